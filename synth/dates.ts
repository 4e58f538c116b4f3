/**
 * Date handling without the wall clock: the synthetic world is anchored on a fixed day, and local times are
 * computed with fixed UTC offsets per institution time zone (the demo zones have no DST ambiguity that matters
 * for synthetic data; DST is ignored on purpose and documented).
 */

export const ANCHOR_DAY = Date.UTC(2025, 5, 30); // 2025-06-30, "today" in the synthetic world
export const WINDOW_START = Date.UTC(2024, 0, 1);
const MS_DAY = 86_400_000;

const OFFSETS: Record<string, number> = {
  'Asia/Shanghai': 8 * 60,
  'America/New_York': -5 * 60,
  'America/Chicago': -6 * 60,
  'America/Denver': -7 * 60,
  'America/Phoenix': -7 * 60,
  'America/Los_Angeles': -8 * 60,
};

/** Offset in minutes for a time zone (standard time). */
export function zoneOffsetMinutes(timezone: string): number {
  const off = OFFSETS[timezone];
  if (off === undefined) throw new RangeError(`no offset known for time zone ${timezone}`);
  return off;
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

export interface LocalParts {
  y: number;
  mo: number;
  d: number;
  h: number;
  mi: number;
  s: number;
}

export function localParts(utcMs: number, offsetMin: number): LocalParts {
  const t = new Date(utcMs + offsetMin * 60_000);
  return {
    y: t.getUTCFullYear(),
    mo: t.getUTCMonth() + 1,
    d: t.getUTCDate(),
    h: t.getUTCHours(),
    mi: t.getUTCMinutes(),
    s: t.getUTCSeconds(),
  };
}

export function offsetText(offsetMin: number, colon: boolean): string {
  const sign = offsetMin < 0 ? '-' : '+';
  const a = Math.abs(offsetMin);
  return `${sign}${pad(Math.floor(a / 60))}${colon ? ':' : ''}${pad(a % 60)}`;
}

/** ISO 8601 with the local offset: 2025-03-05T14:30:00+08:00. */
export function isoLocal(utcMs: number, offsetMin: number): string {
  const p = localParts(utcMs, offsetMin);
  return `${p.y}-${pad(p.mo)}-${pad(p.d)}T${pad(p.h)}:${pad(p.mi)}:${pad(p.s)}${offsetText(offsetMin, true)}`;
}

export function isoUtc(utcMs: number): string {
  return new Date(utcMs).toISOString().replace('.000Z', 'Z');
}

/** HL7 DTM: 20250305143000+0800 (or without offset). */
export function hl7Time(utcMs: number, offsetMin: number, withOffset: boolean): string {
  const p = localParts(utcMs, offsetMin);
  return `${p.y}${pad(p.mo)}${pad(p.d)}${pad(p.h)}${pad(p.mi)}${pad(p.s)}${withOffset ? offsetText(offsetMin, false) : ''}`;
}

/** Format with tokens YYYY, MM, M, DD, D, HH, H, mm, ss (as the HIS mapping files declare). */
export function formatPattern(utcMs: number, offsetMin: number, pattern: string): string {
  const p = localParts(utcMs, offsetMin);
  return pattern.replace(/YYYY|MM|M|DD|D|HH|H|mm|ss/g, (tok) => {
    switch (tok) {
      case 'YYYY':
        return String(p.y);
      case 'MM':
        return pad(p.mo);
      case 'M':
        return String(p.mo);
      case 'DD':
        return pad(p.d);
      case 'D':
        return String(p.d);
      case 'HH':
        return pad(p.h);
      case 'H':
        return String(p.h);
      case 'mm':
        return pad(p.mi);
      default:
        return pad(p.s);
    }
  });
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** The many ways clinicians write a date in free text. `style` picks one. */
export function noteDate(utcMs: number, offsetMin: number, locale: 'zh-CN' | 'en-US', style: number): string {
  const p = localParts(utcMs, offsetMin);
  if (locale === 'zh-CN') {
    switch (style % 5) {
      case 0:
        return `${p.y}年${p.mo}月${p.d}日`;
      case 1:
        return `${p.y}-${pad(p.mo)}-${pad(p.d)}`;
      case 2:
        return `${p.y}.${p.mo}.${p.d}`;
      case 3:
        return `${pad(p.d)}/${pad(p.mo)}/${p.y}`;
      default:
        return `${p.mo}月${p.d}日`;
    }
  }
  switch (style % 5) {
    case 0:
      return `${pad(p.mo)}/${pad(p.d)}/${p.y}`;
    case 1:
      return `${MONTHS[p.mo - 1]} ${p.d}`;
    case 2:
      return `${MONTHS[p.mo - 1]} ${p.d}, ${p.y}`;
    case 3:
      return `${p.y}-${pad(p.mo)}-${pad(p.d)}`;
    default:
      return `${p.mo}/${p.d}/${String(p.y).slice(2)}`;
  }
}

export function dateOnly(utcMs: number, offsetMin: number): string {
  const p = localParts(utcMs, offsetMin);
  return `${p.y}-${pad(p.mo)}-${pad(p.d)}`;
}

/** Age in whole years on the anchor day for a YYYY-MM-DD birth date. */
export function ageOn(birthDate: string, dayMs = ANCHOR_DAY): number {
  const [y, m, d] = birthDate.split('-').map(Number);
  const t = new Date(dayMs);
  let age = t.getUTCFullYear() - y;
  if (t.getUTCMonth() + 1 < m || (t.getUTCMonth() + 1 === m && t.getUTCDate() < d)) age--;
  return age;
}

export function birthDateMs(birthDate: string): number {
  return Date.parse(`${birthDate}T00:00:00Z`);
}

export { MS_DAY };
