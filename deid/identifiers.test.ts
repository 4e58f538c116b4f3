import { describe, expect, it } from 'vitest';
import {
  foldWidth,
  isCnMobile,
  isLuhnValid,
  isValidResidentId,
  isValidUsSsn,
  normalizeForMatch,
  residentIdCheckChar,
} from './identifiers';

describe('identifier validators', () => {
  it('computes the GB 11643 check character, X included', () => {
    expect(residentIdCheckChar('11010519491231002')).toBe('X');
    expect(isValidResidentId('11010519491231002X')).toBe(true);
    expect(isValidResidentId('11010519491231002x')).toBe(true);
    expect(isValidResidentId('110105194912310021')).toBe(false);
    expect(isValidResidentId('１１０１０５１９４９１２３１００２Ｘ')).toBe(true);
    // valid check digit arithmetic but impossible birth date
    const bad = '11010519491331002';
    expect(isValidResidentId(bad + residentIdCheckChar(bad))).toBe(false);
  });

  it('checks Luhn, SSN and CN mobile forms', () => {
    expect(isLuhnValid('4111 1111 1111 1111')).toBe(true);
    expect(isLuhnValid('4111-1111-1111-1112')).toBe(false);
    expect(isValidUsSsn('123-45-6789')).toBe(true);
    expect(isValidUsSsn('666-45-6789')).toBe(false);
    expect(isValidUsSsn('999-94-5397')).toBe(false);
    expect(isValidUsSsn('123-00-6789')).toBe(false);
    expect(isCnMobile('+86 138-1234-5678')).toBe(true);
    expect(isCnMobile('12812345678')).toBe(false);
  });

  it('folds full-width forms one unit for one, so offsets carry over', () => {
    const s = 'ＩＤ：１２３　ab';
    expect(foldWidth(s)).toBe('ID:123 ab');
    expect(foldWidth(s).length).toBe(s.length);
    expect(normalizeForMatch(' Ｊｏｈｎ  Smith-Jr ')).toBe('johnsmithjr');
  });
});
