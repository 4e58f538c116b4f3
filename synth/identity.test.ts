import { describe, expect, it } from 'vitest';
import {
  isValidResidentId,
  makeResidentId,
  makeSsn,
  residentIdCheckChar,
  toFullWidthDigits,
} from './identity';
import { Rng } from './prng';

describe('GB 11643 resident ID', () => {
  it('computes the check character of the standard example', () => {
    // The example from GB 11643-1999: 11010519491231002X.
    expect(residentIdCheckChar('11010519491231002')).toBe('X');
    expect(isValidResidentId('11010519491231002X')).toBe(true);
    expect(isValidResidentId('110105194912310021')).toBe(false);
  });

  it('builds valid IDs whose sequence parity encodes sex', () => {
    for (let i = 0; i < 200; i++) {
      const male = i % 2 === 0;
      const id = makeResidentId('440304', '1978-12-10', i * 37, male);
      expect(isValidResidentId(id)).toBe(true);
      expect(id.slice(6, 14)).toBe('19781210');
      expect(Number(id[16]) % 2 === 1).toBe(male);
    }
  });
});

describe('SSN-style numbers', () => {
  it('never uses area 000, 666 or 9xx, group 00 or serial 0000', () => {
    for (let i = 0; i < 400; i++) {
      const ssn = makeSsn(i * 7, i * 3, i * 11);
      expect(ssn).toMatch(/^\d{3}-\d{2}-\d{4}$/);
      const [a, g, s] = ssn.split('-');
      expect(a).not.toBe('000');
      expect(a).not.toBe('666');
      expect(a.startsWith('9')).toBe(false);
      expect(g).not.toBe('00');
      expect(s).not.toBe('0000');
    }
  });
});

describe('formatting', () => {
  it('writes full-width digits', () => {
    expect(toFullWidthDigits('138-0013')).toBe('１３８-００１３');
  });
});

describe('Rng', () => {
  it('is deterministic per (seed, label) and independent across labels', () => {
    const a = new Rng('s', 'x');
    const b = new Rng('s', 'x');
    const c = new Rng('s', 'y');
    const seqA = Array.from({ length: 20 }, () => a.next());
    expect(Array.from({ length: 20 }, () => b.next())).toEqual(seqA);
    expect(Array.from({ length: 20 }, () => c.next())).not.toEqual(seqA);
    expect(seqA.every((v) => v >= 0 && v < 1)).toBe(true);
  });
});
