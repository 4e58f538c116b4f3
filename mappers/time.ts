import { RecordError } from './sink';

/**
 * Date/time conversion into FHIR date, dateTime and instant. FHIR requires a zone on any dateTime with a time, so
 * local source times take the institution's zone (MapContext.timezone), resolved with Intl per instant (DST-correct).
 */
const offsetFormatters = new Map<string, Intl.DateTimeFormat>();
/** zone|quarter-hour -> offset. Zone rules change on quarter-hour boundaries at most, so this cache is exact. */
const offsetCache = new Map<string, string>();

/** "+08:00" for zone at the given UTC millis. */
export function zoneOffset(timezone: string, utcMillis: number): string {
  const key = `${timezone}|${Math.floor(utcMillis / 900_000)}`;
  const cached = offsetCache.get(key);
  if (cached) return cached;
  if (offsetCache.size > 100_000) offsetCache.clear();
  const offset = computeZoneOffset(timezone, utcMillis);
  offsetCache.set(key, offset);
  return offset;
}

function computeZoneOffset(timezone: string, utcMillis: number): string {
  let f = offsetFormatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: timezone, timeZoneName: 'longOffset' });
    offsetFormatters.set(timezone, f);
  }
  const name = f.formatToParts(utcMillis).find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
  const m = /GMT([+-]\d{2}):?(\d{2})?/.exec(name);
  return m ? `${m[1]}:${m[2] ?? '00'}` : '+00:00';
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** Offset for a local wall time in a zone (two-step: guess with UTC, then correct). */
function localOffset(timezone: string, y: number, mo: number, d: number, h: number, mi: number): string {
  const guess = Date.UTC(y, mo - 1, d, h, mi);
  const first = zoneOffset(timezone, guess);
  const sign = first[0] === '-' ? -1 : 1;
  const mins = sign * (Number(first.slice(1, 3)) * 60 + Number(first.slice(4, 6)));
  return zoneOffset(timezone, guess - mins * 60_000);
}

const HL7_TS = /^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,4}))?([+-]\d{4})?$/;

/**
 * HL7 v2 TS/DTM (YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]) -> FHIR date or dateTime. Throws RecordError on malformed
 * input; `location` names the field.
 */
export function hl7DateTime(raw: string, timezone: string, location: string): string {
  const m = HL7_TS.exec(raw.trim());
  if (!m) throw new RecordError('not an HL7 date/time (expected YYYY[MM[DD[HHMM[SS]]]][+/-ZZZZ])', location, 'value');
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  checkRange(Number(mo ?? 1), 1, 12, location);
  checkRange(Number(d ?? 1), 1, 31, location);
  if (!mo) return y;
  if (!d) return `${y}-${mo}`;
  if (!h) return `${y}-${mo}-${d}`;
  checkRange(Number(h), 0, 23, location);
  checkRange(Number(mi ?? 0), 0, 59, location);
  checkRange(Number(s ?? 0), 0, 59, location);
  const offset = tz
    ? `${tz.slice(0, 3)}:${tz.slice(3)}`
    : localOffset(timezone, Number(y), Number(mo), Number(d), Number(h), Number(mi ?? 0));
  return `${y}-${mo}-${d}T${h}:${mi ?? '00'}:${s ?? '00'}${frac ? `.${frac}` : ''}${offset}`;
}

function checkRange(n: number, lo: number, hi: number, location: string): void {
  if (!(n >= lo && n <= hi)) throw new RecordError('date/time component out of range', location, 'value');
}

/** A date-only FHIR date from an HL7 TS (birth dates). */
export function hl7Date(raw: string, location: string): string {
  const m = HL7_TS.exec(raw.trim());
  if (!m) throw new RecordError('not an HL7 date (expected YYYY[MM[DD]])', location, 'value');
  const [, y, mo, d] = m;
  checkRange(Number(mo ?? 1), 1, 12, location);
  checkRange(Number(d ?? 1), 1, 31, location);
  return d ? `${y}-${mo}-${d}` : mo ? `${y}-${mo}` : y;
}

/** Local "YYYY-MM-DD HH:MM[:SS]" (or with T) in a zone -> FHIR dateTime. */
export function localDateTime(y: number, mo: number, d: number, h: number, mi: number, s: number, timezone: string): string {
  return `${y}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}:${pad(s)}${localOffset(timezone, y, mo, d, h, mi)}`;
}

/** FHIR instant (Provenance.recorded) from a FHIR dateTime that may be date-only. */
export function toInstant(dateTime: string): string {
  if (dateTime.includes('T')) return dateTime;
  const full = dateTime.length === 4 ? `${dateTime}-01-01` : dateTime.length === 7 ? `${dateTime}-01` : dateTime;
  return `${full}T00:00:00Z`;
}
