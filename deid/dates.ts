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
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

const pad2 = (n: number) => (n < 10 ? '0' + n : String(n));
const pad4 = (n: number) => String(n).padStart(4, '0');

const isDigit = (c: number) => c >= 48 && c <= 57;
/** Two ASCII digits at `i` as a number, or -1. */
function digits2(s: string, i: number): number {
  const a = s.charCodeAt(i);
  const b = s.charCodeAt(i + 1);
  return isDigit(a) && isDigit(b) ? (a - 48) * 10 + (b - 48) : -1;
}

/**
 * How much of FHIR_DATE_RE `value` matches, without a match array (every structured date of a batch passes here):
 * 0 when it does not match, else 4 (year), 7 (year-month), 10 (date) or its length (date with a time part, which
 * starts at index 10). Equal to the regex on every input (tested).
 */
export function fhirDatePrecision(value: string): number {
  const n = value.length;
  if (n < 4 || digits2(value, 0) < 0 || digits2(value, 2) < 0) return 0;
  if (n === 4) return 4;
  if (n < 7 || value.charCodeAt(4) !== 45 || digits2(value, 5) < 0) return 0;
  if (n === 7) return 7;
  if (n < 10 || value.charCodeAt(7) !== 45 || digits2(value, 8) < 0) return 0;
  if (n === 10) return 10;
  if (value.charCodeAt(10) !== 84) return 0; // 'T'
  // T[0-9:.]+ then nothing, 'Z', or [+-]hh:mm (the time's characters never include a zone's sign or 'Z').
  let i = 11;
  while (i < n) {
    const c = value.charCodeAt(i);
    if (!(isDigit(c) || c === 58 || c === 46)) break;
    i++;
  }
  if (i === 11) return 0;
  if (i === n) return n;
  const c = value.charCodeAt(i);
  if (c === 90) return i + 1 === n ? n : 0; // 'Z'
  if (
    (c === 43 || c === 45) &&
    i + 6 === n &&
    digits2(value, i + 1) >= 0 &&
    value.charCodeAt(i + 3) === 58 &&
    digits2(value, i + 4) >= 0
  )
    return n;
  return 0;
}

/**
 * Shift a FHIR date/dateTime/instant by whole days, keeping its precision, time of day and zone, so intervals
 * between one patient's dates are preserved. A year alone stays as it is (HIPAA allows the year); a year-month
 * moves with its mid-month day. Returns undefined for a value that is not a FHIR date.
 */
export function shiftFhirDate(value: string, days: number): string | undefined {
  const p = fhirDatePrecision(value);
  if (p === 0) return undefined;
  if (p === 4) return value;
  const y = digits2(value, 0) * 100 + digits2(value, 2);
  const mo = digits2(value, 5);
  if (mo < 1 || mo > 12) return undefined;
  if (p === 7) {
    const [ny, nm] = addDays(y, mo, 15, days);
    return `${pad4(ny)}-${pad2(nm)}`;
  }
  const d = digits2(value, 8);
  if (d < 1 || d > daysInMonth(y, mo)) return undefined;
  const [ny, nm, nd] = addDays(y, mo, d, days);
  return `${pad4(ny)}-${pad2(nm)}-${pad2(nd)}${p > 10 ? value.slice(10) : ''}`;
}

/** The year of a FHIR date, or undefined. */
export function fhirDateYear(value: string): number | undefined {
  const m = FHIR_DATE_RE.exec(value);
  return m ? Number(m[1]) : undefined;
}

/**
 * Whether a FHIR date makes its person older than `years` on `on` (see ageOn). Every shifted date and every date the
 * gate reads asks this: the year alone answers for all but the oldest, without the regular expression.
 */
export function isOlderThan(date: string, on: Date, years: number): boolean {
  const y =
    (date.charCodeAt(0) - 48) * 1000 +
    (date.charCodeAt(1) - 48) * 100 +
    (date.charCodeAt(2) - 48) * 10 +
    (date.charCodeAt(3) - 48);
  if (y >= 0 && y <= 9999 && y >= on.getUTCFullYear() - years) return false;
  return (ageOn(date, on) ?? 0) > years;
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

/**
 * Elements of FHIR's datatypes that are never a date, whatever their value looks like: a local code `1320`, a code
 * system's version `2019-09`. The typed date rules and the gate's old-date check do not read them as dates.
 */
export const NEVER_DATE_KEYS: ReadonlySet<string> = new Set([
  'code',
  'system',
  'version',
  'display',
  'unit',
  'text',
  'linkId',
  'value',
  'status',
]);
