import { describe, expect, it } from 'vitest';
import { addDays, shiftFhirDate } from './dates';
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
      for (let m = 1; m <= 12; m++) if (daysInMonth(y, m) !== new Date(Date.UTC(y, m, 0)).getUTCDate()) mismatches++;
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
});
