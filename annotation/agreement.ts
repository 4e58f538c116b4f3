/**
 * Inter-annotator agreement on nominal categories. Inputs are units (items), each with the categories its
 * annotators chose (one per annotator). Results are null where the statistic is undefined (no units with two
 * ratings, or chance agreement of 1).
 */

export interface RatedUnit {
  /** annotator id → category */
  ratings: Map<string, string> | Record<string, string>;
}

const entriesOf = (u: RatedUnit): [string, string][] =>
  u.ratings instanceof Map ? [...u.ratings.entries()] : Object.entries(u.ratings);

/** Cohen's kappa for two annotators over the units both rated. */
export function cohensKappa(pairs: [string, string][]): number | null {
  const n = pairs.length;
  if (n === 0) return null;
  const a = new Map<string, number>();
  const b = new Map<string, number>();
  let agree = 0;
  for (const [x, y] of pairs) {
    if (x === y) agree++;
    a.set(x, (a.get(x) ?? 0) + 1);
    b.set(y, (b.get(y) ?? 0) + 1);
  }
  const po = agree / n;
  let pe = 0;
  for (const [k, ca] of a) pe += (ca / n) * ((b.get(k) ?? 0) / n);
  if (pe >= 1) return null;
  return (po - pe) / (1 - pe);
}

/** Fleiss' kappa; units may have different numbers of raters (units with fewer than two are left out). */
export function fleissKappa(units: RatedUnit[]): number | null {
  let totalRatings = 0;
  let sumPi = 0;
  let counted = 0;
  const categoryTotals = new Map<string, number>();
  for (const u of units) {
    const cats = entriesOf(u).map(([, c]) => c);
    const m = cats.length;
    if (m < 2) continue;
    const counts = new Map<string, number>();
    for (const c of cats) counts.set(c, (counts.get(c) ?? 0) + 1);
    let sq = 0;
    for (const [c, k] of counts) {
      sq += k * k;
      categoryTotals.set(c, (categoryTotals.get(c) ?? 0) + k);
    }
    sumPi += (sq - m) / (m * (m - 1));
    totalRatings += m;
    counted++;
  }
  if (counted === 0) return null;
  const pBar = sumPi / counted;
  let pe = 0;
  for (const k of categoryTotals.values()) pe += (k / totalRatings) ** 2;
  if (pe >= 1) return null;
  return (pBar - pe) / (1 - pe);
}

/** Krippendorff's alpha, nominal metric, from the coincidence matrix (handles missing ratings). */
export function krippendorffAlphaNominal(units: RatedUnit[]): number | null {
  const coincidence = new Map<string, number>(); // `${c}\u0000${k}` → weight
  const marginal = new Map<string, number>();
  let n = 0;
  for (const u of units) {
    const cats = entriesOf(u).map(([, c]) => c);
    const m = cats.length;
    if (m < 2) continue;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < m; j++) {
        if (i === j) continue;
        const key = `${cats[i]}\u0000${cats[j]}`;
        coincidence.set(key, (coincidence.get(key) ?? 0) + 1 / (m - 1));
      }
      marginal.set(cats[i], (marginal.get(cats[i]) ?? 0) + 1);
      n++;
    }
  }
  if (n < 2) return null;
  let observed = 0;
  for (const [key, w] of coincidence) {
    const [c, k] = key.split('\u0000');
    if (c !== k) observed += w;
  }
  let expected = 0;
  const totals = [...marginal.values()];
  for (let i = 0; i < totals.length; i++)
    for (let j = 0; j < totals.length; j++) if (i !== j) expected += totals[i] * totals[j];
  if (expected === 0) return null;
  return 1 - ((n - 1) * observed) / expected;
}

/** Share of agreeing annotator pairs on one unit (1 when all agree); null with fewer than two ratings. */
export function pairwiseAgreement(categories: string[]): number | null {
  const m = categories.length;
  if (m < 2) return null;
  let agree = 0;
  for (let i = 0; i < m; i++) for (let j = i + 1; j < m; j++) if (categories[i] === categories[j]) agree++;
  return agree / ((m * (m - 1)) / 2);
}

export interface QueueAgreement {
  units: number;
  ratings: number;
  fleissKappa: number | null;
  krippendorffAlpha: number | null;
  cohensKappa: { annotators: [string, string]; units: number; kappa: number | null }[];
  meanCohensKappa: number | null;
}

/** All three figures for a queue's units, with Cohen's kappa for every annotator pair that shares units. */
export function computeAgreement(units: RatedUnit[]): QueueAgreement {
  const pairs = new Map<string, [string, string][]>();
  let ratings = 0;
  let rated = 0;
  for (const u of units) {
    const entries = entriesOf(u).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    ratings += entries.length;
    if (entries.length >= 2) rated++;
    for (let i = 0; i < entries.length; i++) {
      for (let j = i + 1; j < entries.length; j++) {
        const key = `${entries[i][0]}\u0000${entries[j][0]}`;
        const list = pairs.get(key) ?? [];
        list.push([entries[i][1], entries[j][1]]);
        pairs.set(key, list);
      }
    }
  }
  const cohens = [...pairs.entries()]
    .map(([key, list]) => ({
      annotators: key.split('\u0000') as [string, string],
      units: list.length,
      kappa: cohensKappa(list),
    }))
    .sort((x, y) => x.annotators.join().localeCompare(y.annotators.join()));
  const defined = cohens.filter((c) => c.kappa !== null);
  return {
    units: rated,
    ratings,
    fleissKappa: fleissKappa(units),
    krippendorffAlpha: krippendorffAlphaNominal(units),
    cohensKappa: cohens,
    meanCohensKappa: defined.length
      ? defined.reduce((s, c) => s + (c.kappa as number), 0) / defined.length
      : null,
  };
}
