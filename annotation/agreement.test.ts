import { describe, expect, it } from 'vitest';
import {
  cohensKappa,
  computeAgreement,
  fleissKappa,
  krippendorffAlphaNominal,
  pairwiseAgreement,
} from './agreement';

const units = (rows: string[][]) =>
  rows.map((cats) => ({ ratings: Object.fromEntries(cats.map((c, i) => [`r${i}`, c])) }));

describe('agreement', () => {
  it("Cohen's kappa: 50 items, 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no → po 0.7, pe 0.5, kappa 0.4", () => {
    const pairs: [string, string][] = [
      ...Array(20).fill(['yes', 'yes']),
      ...Array(5).fill(['yes', 'no']),
      ...Array(10).fill(['no', 'yes']),
      ...Array(15).fill(['no', 'no']),
    ];
    expect(cohensKappa(pairs)).toBeCloseTo(0.4, 10);
  });

  it("Cohen's kappa is undefined when both always say the same single category", () => {
    expect(
      cohensKappa([
        ['a', 'a'],
        ['a', 'a'],
      ]),
    ).toBeNull();
  });

  it("Fleiss' kappa: the 10 subjects × 14 raters × 5 categories table gives 0.210", () => {
    const table = [
      [0, 0, 0, 0, 14],
      [0, 2, 6, 4, 2],
      [0, 0, 3, 5, 6],
      [0, 3, 9, 2, 0],
      [2, 2, 8, 1, 1],
      [7, 7, 0, 0, 0],
      [3, 2, 6, 3, 0],
      [2, 5, 3, 2, 2],
      [6, 5, 2, 1, 0],
      [0, 2, 2, 3, 7],
    ];
    const rows = table.map((counts) => counts.flatMap((k, j) => Array<string>(k).fill(`c${j + 1}`)));
    // Hand computation: P̄ = 3.8857/10 = 0.38857, P̄e = 0.22620 (p = .143 .200 .279 .150 .229), kappa = 0.2099.
    expect(fleissKappa(units(rows))).toBeCloseTo(0.2099, 3);
  });

  it("Krippendorff's alpha (nominal) on units [a,a] [a,b] [b,b] [a,a,b] with a missing rating is 0.2", () => {
    // Coincidences: o_aa = 3, o_ab = o_ba = 2, o_bb = 2; n_a = 5, n_b = 4, n = 9.
    // alpha = 1 - (n-1)·(o_ab+o_ba) / (2·n_a·n_b) = 1 - 8·4/40 = 0.2.
    expect(
      krippendorffAlphaNominal(units([['a', 'a'], ['a', 'b'], ['b', 'b'], ['a', 'a', 'b'], ['b']])),
    ).toBeCloseTo(0.2, 10);
  });

  it('two raters: Fleiss, alpha and Cohen agree with hand values on a 2×2 case', () => {
    // 4 items: (a,a) (a,a) (b,b) (a,b). po = .75; Cohen pe = .75·.5 + .25·.5 = .5 → kappa .5.
    // Fleiss: P̄ = .75, p_a = 5/8, p_b = 3/8, Pe = 34/64 → (0.75-0.53125)/(0.46875) = 0.4667.
    // Alpha: n = 8, o_ab+o_ba = 2, n_a n_b = 15 → 1 - 7·2/30 = 0.5333.
    const r = computeAgreement(
      units([
        ['a', 'a'],
        ['a', 'a'],
        ['b', 'b'],
        ['a', 'b'],
      ]),
    );
    expect(r.cohensKappa).toEqual([{ annotators: ['r0', 'r1'], units: 4, kappa: 0.5 }]);
    expect(r.fleissKappa).toBeCloseTo(0.46667, 4);
    expect(r.krippendorffAlpha).toBeCloseTo(0.53333, 4);
    expect(r.units).toBe(4);
    expect(r.ratings).toBe(8);
  });

  it('pairwise agreement on one item', () => {
    expect(pairwiseAgreement(['a', 'a', 'b'])).toBeCloseTo(1 / 3, 10);
    expect(pairwiseAgreement(['a', 'a'])).toBe(1);
    expect(pairwiseAgreement(['a'])).toBeNull();
  });
});
