import { daysInMonth } from './identifiers';

/** FHIR date, dateTime and instant: YYYY, YYYY-MM, YYYY-MM-DD, with an optional time and zone. */
export const FHIR_DATE_RE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/**
 * Add whole days to a calendar date (proleptic Gregorian, UTC). A day past the month's end rolls over, as in
 * Date.UTC. Integer arithmetic (days from 1970-01-01, H. Hinnant's civil-date algorithm): no Date object per shift.
 * Years below 100 keep Date.UTC's reading (it takes them as 1900 + y), so results never depend on the path taken.
 */
export function addDays(y: number, m: number, d: number, days: number): [number, number, number] {
  if (y < 100 || y > 275_000 || m < 1 || m > 12 || !Number.isInteger(y + m + d + days)) {
    const t = new Date(Date.UTC(y, m - 1, d) + days * 86_400_000);
    return [t.getUTCFullYear(), t.getUTCMonth() + 1, t.getUTCDate()];
  }
  return civilFromDays(daysFromCivil(y, m, d) + days);
}

function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

function civilFromDays(days: number): [number, number, number] {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

const pad2 = (n: number) => (n < 10 ? '0' + n : String(n));
const pad4 = (n: number) => String(n).padStart(4, '0');

/**
 * Shift a FHIR date/dateTime/instant by whole days, keeping its precision, time of day and zone, so intervals
 * between one patient's dates are preserved. A year alone stays as it is (HIPAA allows the year); a year-month
 * moves with its mid-month day. Returns undefined for a value that is not a FHIR date.
 */
export function shiftFhirDate(value: string, days: number): string | undefined {
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
}

/** The year of a FHIR date, or undefined. */
export function fhirDateYear(value: string): number | undefined {
  const m = FHIR_DATE_RE.exec(value);
  return m ? Number(m[1]) : undefined;
}

/** Whole years between a birth date and a reference date (UTC). */
export function ageOn(birth: string, on: Date): number | undefined {
  const m = FHIR_DATE_RE.exec(birth);
  if (!m) return undefined;
  const y = Number(m[1]);
  const mo = m[2] ? Number(m[2]) : 7;
  const d = m[3] ? Number(m[3]) : 1;
  let age = on.getUTCFullYear() - y;
  if (on.getUTCMonth() + 1 < mo || (on.getUTCMonth() + 1 === mo && on.getUTCDate() < d)) age--;
  return age;
}

export { pad2, pad4 };
