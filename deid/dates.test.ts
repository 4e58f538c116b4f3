import { describe, expect, it } from 'vitest';
import { FHIR_DATE_RE, addDays, fhirDatePrecision, pad2, pad4, shiftFhirDate } from './dates';
import { daysInMonth } from './identifiers';

function viaDate(y: number, m: number, d: number, days: number): [number, number, number] {
  const t = new Date(Date.UTC(y, m - 1, d) + days * 86_400_000);
  return [t.getUTCFullYear(), t.getUTCMonth() + 1, t.getUTCDate()];
}

describe('addDays', () => {
  it('agrees with Date.UTC on every day of years 1-500 (a whole 400-year cycle) and a spread to 9999, month-end roll-over included', () => {
    let mismatches = 0;
    let checked = 0;
    for (let y = 1; y <= 9999; y += y < 500 ? 1 : 37) {
      for (let m = 1; m <= 12; m++) {
        for (let d = 1; d <= 31; d++) {
          for (const days of [-366, -1, 1, 366]) {
            checked++;
            const a = addDays(y, m, d, days);
            const b = viaDate(y, m, d, days);
            if (a[0] !== b[0] || a[1] !== b[1] || a[2] !== b[2]) mismatches++;
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(1_000_000);
    expect(mismatches).toBe(0);
  });

  it('daysInMonth agrees with Date.UTC for years 1-3000', () => {
    let mismatches = 0;
    for (let y = 1; y <= 3000; y++) {
      for (let m = 1; m <= 12; m++)
        if (daysInMonth(y, m) !== new Date(Date.UTC(y, m, 0)).getUTCDate()) mismatches++;
    }
    expect(mismatches).toBe(0);
  });

  it('shifts FHIR dates across leap days and year ends keeping precision and time', () => {
    expect(shiftFhirDate('2024-02-28', 1)).toBe('2024-02-29');
    expect(shiftFhirDate('2023-02-28T10:00:00Z', 1)).toBe('2023-03-01T10:00:00Z');
    expect(shiftFhirDate('2024-12-31T23:59:59+08:00', 1)).toBe('2025-01-01T23:59:59+08:00');
    expect(shiftFhirDate('2000-03-01', -1)).toBe('2000-02-29');
    expect(shiftFhirDate('1900-03-01', -1)).toBe('1900-02-28');
  });

  it('reads FHIR dates as FHIR_DATE_RE does, and shifts them as the regex-based shift did, on every shape and near miss', () => {
    // The regex-based shift this replaced, kept as the reference.
    const viaRegex = (value: string, days: number): string | undefined => {
      const m = FHIR_DATE_RE.exec(value);
      if (!m) return undefined;
      const y = Number(m[1]);
      if (m[2] === undefined) return value;
      const mo = Number(m[2]);
      if (mo < 1 || mo > 12) return undefined;
      if (m[3] === undefined) {
        const [ny, nm] = addDays(y, mo, 15, days);
        return `${pad4(ny)}-${pad2(nm)}`;
      }
      const d = Number(m[3]);
      if (d < 1 || d > daysInMonth(y, mo)) return undefined;
      const [ny, nm, nd] = addDays(y, mo, d, days);
      return `${pad4(ny)}-${pad2(nm)}-${pad2(nd)}${m[4] ?? ''}`;
    };
    const values = new Set<string>([
      '',
      '2024',
      '2024-',
      '2024-0',
      '2024-02',
      '2024-13',
      '2024-00',
      '2024-02-3',
      '2024-02-29',
      '2023-02-29',
      '0000-01-01',
      '9999-12-31',
    ]);
    const times = [
      '',
      'T',
      'T1',
      'T10:00',
      'T10:00:00.123',
      'T::..',
      'TZ',
      'T10Z',
      'T10:00:00Z',
      'T10:00:00ZZ',
      'T10:00+08:00',
      'T10:00-05:00',
      'T10:00+0800',
      'T10:00+08:0',
      'T10:00+08:000',
      'T10:00 +08:00',
      'T10:00+08:00Z',
      'T1-05:00',
      't10:00',
      'T10:00:00Z\n',
      'T１0',
    ];
    for (const date of [
      '2024-02-29',
      '2023-12-31',
      '1900-02-28',
      '2000-02-29',
      '2024-02-30',
      '2024-1a-01',
      '２024-01-01',
    ])
      for (const t of times) values.add(date + t);
    // Every string over a small alphabet up to 7 characters long around the date shape.
    const alphabet = ['2', '0', '1', '-', 'T', ':', 'Z', '+', '.', 'x'];
    const grow = (prefix: string, left: number): void => {
      values.add(prefix);
      if (left) for (const c of alphabet) grow(prefix + c, left - 1);
    };
    grow('2024-01-01T', 4);
    grow('2024-', 3);
    grow('', 4);
    let checked = 0;
    for (const v of values) {
      const re = FHIR_DATE_RE.exec(v);
      const expected = !re
        ? 0
        : re[4] !== undefined
          ? v.length
          : re[3] !== undefined
            ? 10
            : re[2] !== undefined
              ? 7
              : 4;
      expect(fhirDatePrecision(v), v).toBe(expected);
      // A date without a time part, as the walker's nodesByType('date') reads it.
      expect([4, 7, 10].includes(expected), v).toBe(/^\d{4}(?:-\d{2}(?:-\d{2})?)?$/.test(v));
      for (const days of [-365, -1, 1, 200]) expect(shiftFhirDate(v, days), v).toBe(viaRegex(v, days));
      checked++;
    }
    expect(checked).toBeGreaterThan(20_000);
  });
});
