import { RecordError } from './sink';

/**
 * Date/time conversion into FHIR date, dateTime and instant. FHIR requires a zone on any dateTime with a time, so
 * local source times take the institution's zone (MapContext.timezone), resolved with Intl per instant (DST-correct).
 */
const offsetFormatters = new Map<string, Intl.DateTimeFormat>();
/**
 * zone -> quarter-hour -> offset. Zone rules change on quarter-hour boundaries at most, so this cache is exact. Keyed
 * by number under the zone so a lookup builds no key string.
 */
const offsetCache = new Map<string, Map<number, string>>();
let offsetCacheSize = 0;

/** "+08:00" for zone at the given UTC millis. */
export function zoneOffset(timezone: string, utcMillis: number): string {
  const quarter = Math.floor(utcMillis / 900_000);
  let zone = offsetCache.get(timezone);
  const cached = zone?.get(quarter);
  if (cached) return cached;
  if (offsetCacheSize > 100_000) {
    offsetCache.clear();
    offsetCacheSize = 0;
    zone = undefined;
  }
  if (!zone) {
    zone = new Map();
    offsetCache.set(timezone, zone);
  }
  const offset = computeZoneOffset(timezone, utcMillis);
  zone.set(quarter, offset);
  offsetCacheSize++;
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

/** Why an HL7 date/time was refused (returned, not thrown, so callers build the error location only on failure). */
export interface Hl7TimeError {
  readonly error: string;
}
const NOT_DATE_TIME: Hl7TimeError = {
  error: 'not an HL7 date/time (expected YYYY[MM[DD[HHMM[SS]]]][+/-ZZZZ])',
};
const NOT_DATE: Hl7TimeError = { error: 'not an HL7 date (expected YYYY[MM[DD]])' };
const OUT_OF_RANGE: Hl7TimeError = { error: 'date/time component out of range' };

function allDigits(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/**
 * The same string, flat. V8 builds a template literal as a tree of cons strings (32 bytes a node, six for a dateTime)
 * that every kept resource would carry through each garbage collection; trim() hands back the flattened string. The
 * values passed here are built from digits and signs, so trimming never changes them.
 */
function flat(s: string): string {
  return s.trim();
}

const inRange = (n: number, lo: number, hi: number): boolean => n >= lo && n <= hi;

/** hl7DateTime without the throw: the FHIR value, or why the input is refused. */
export function tryHl7DateTime(raw: string, timezone: string): string | Hl7TimeError {
  // Most values are plain digits (YYYYMMDD[HHMM[SS]]), often with a +/-ZZZZ offset: read them without the regular
  // expression. Anything else (fractions, odd lengths, spaces) takes the regular expression below.
  let n = raw.length;
  let zone = '';
  if (
    n >= 13 &&
    (raw.charCodeAt(n - 5) === 0x2b || raw.charCodeAt(n - 5) === 0x2d) &&
    allDigits(raw, n - 4, n)
  ) {
    zone = `${raw.slice(n - 5, n - 2)}:${raw.slice(n - 2)}`;
    n -= 5;
  }
  if ((n === 8 || n === 12 || n === 14) && allDigits(raw, 0, n)) {
    const y = raw.slice(0, 4);
    const mo = raw.slice(4, 6);
    const d = raw.slice(6, 8);
    if (!inRange(Number(mo), 1, 12) || !inRange(Number(d), 1, 31)) return OUT_OF_RANGE;
    if (n === 8) return `${y}-${mo}-${d}`;
    const h = raw.slice(8, 10);
    const mi = raw.slice(10, 12);
    const s = n === 14 ? raw.slice(12, 14) : '00';
    if (!inRange(Number(h), 0, 23) || !inRange(Number(mi), 0, 59) || !inRange(Number(s), 0, 59))
      return OUT_OF_RANGE;
    return flat(
      `${y}-${mo}-${d}T${h}:${mi}:${s}${zone || localOffset(timezone, Number(y), Number(mo), Number(d), Number(h), Number(mi))}`,
    );
  }
  const m = HL7_TS.exec(raw.trim());
  if (!m) return NOT_DATE_TIME;
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  if (!inRange(Number(mo ?? 1), 1, 12) || !inRange(Number(d ?? 1), 1, 31)) return OUT_OF_RANGE;
  if (!mo) return y;
  if (!d) return `${y}-${mo}`;
  if (!h) return `${y}-${mo}-${d}`;
  if (!inRange(Number(h), 0, 23) || !inRange(Number(mi ?? 0), 0, 59) || !inRange(Number(s ?? 0), 0, 59))
    return OUT_OF_RANGE;
  const offset = tz
    ? `${tz.slice(0, 3)}:${tz.slice(3)}`
    : localOffset(timezone, Number(y), Number(mo), Number(d), Number(h), Number(mi ?? 0));
  return flat(`${y}-${mo}-${d}T${h}:${mi ?? '00'}:${s ?? '00'}${frac ? `.${frac}` : ''}${offset}`);
}

/**
 * HL7 v2 TS/DTM (YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]) -> FHIR date or dateTime. Throws RecordError on malformed
 * input; `location` names the field.
 */
export function hl7DateTime(raw: string, timezone: string, location: string): string {
  const v = tryHl7DateTime(raw, timezone);
  if (typeof v !== 'string') throw new RecordError(v.error, location, 'value');
  return v;
}

/** hl7Date without the throw. */
export function tryHl7Date(raw: string): string | Hl7TimeError {
  const m = HL7_TS.exec(raw.trim());
  if (!m) return NOT_DATE;
  const [, y, mo, d] = m;
  if (!inRange(Number(mo ?? 1), 1, 12) || !inRange(Number(d ?? 1), 1, 31)) return OUT_OF_RANGE;
  return d ? `${y}-${mo}-${d}` : mo ? `${y}-${mo}` : y;
}

/** A date-only FHIR date from an HL7 TS (birth dates). */
export function hl7Date(raw: string, location: string): string {
  const v = tryHl7Date(raw);
  if (typeof v !== 'string') throw new RecordError(v.error, location, 'value');
  return v;
}

/** Local "YYYY-MM-DD HH:MM[:SS]" (or with T) in a zone -> FHIR dateTime. */
export function localDateTime(
  y: number,
  mo: number,
  d: number,
  h: number,
  mi: number,
  s: number,
  timezone: string,
): string {
  return `${y}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}:${pad(s)}${localOffset(timezone, y, mo, d, h, mi)}`;
}

/** FHIR instant (Provenance.recorded) from a FHIR dateTime that may be date-only. */
export function toInstant(dateTime: string): string {
  if (dateTime.includes('T')) return dateTime;
  const full =
    dateTime.length === 4 ? `${dateTime}-01-01` : dateTime.length === 7 ? `${dateTime}-01` : dateTime;
  return `${full}T00:00:00Z`;
}
