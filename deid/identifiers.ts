/**
 * Validators and normalizers for identifiers the scrubber and the generator both need. Checksums make a detector
 * precise: an 18-character run is a resident ID only when its GB 11643 check digit agrees.
 */

const GB11643_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const GB11643_CHECK = '10X98765432';

/** The GB 11643-1999 (ISO 7064 MOD 11-2) check character for the first 17 digits of a resident ID. */
export function residentIdCheckChar(first17: string): string {
  if (!/^\d{17}$/.test(first17)) throw new RangeError('residentIdCheckChar needs 17 digits');
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += (first17.charCodeAt(i) - 48) * GB11643_WEIGHTS[i];
  return GB11643_CHECK[sum % 11];
}

/** True for an 18-character Chinese resident ID whose check character and birth date are valid (full-width ok). */
export function isValidResidentId(value: string): boolean {
  const v = foldWidth(value).toUpperCase();
  if (!/^\d{17}[\dX]$/.test(v)) return false;
  if (!isValidYmd(v.slice(6, 14))) return false;
  return residentIdCheckChar(v.slice(0, 17)) === v[17];
}

/** True for a plausible YYYYMMDD between 1880 and 2100. */
export function isValidYmd(ymd: string): boolean {
  if (!/^\d{8}$/.test(ymd)) return false;
  const y = Number(ymd.slice(0, 4));
  const m = Number(ymd.slice(4, 6));
  const d = Number(ymd.slice(6, 8));
  if (y < 1880 || y > 2100 || m < 1 || m > 12 || d < 1) return false;
  return d <= daysInMonth(y, m);
}

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Days in a month (1-12) of a year. Years below 100 keep Date.UTC's reading (1900 + y), as before. */
export function daysInMonth(year: number, month: number): number {
  if (
    year >= 100 &&
    year <= 275_000 &&
    month >= 1 &&
    month <= 12 &&
    Number.isInteger(year) &&
    Number.isInteger(month)
  ) {
    if (month !== 2) return MONTH_DAYS[month - 1];
    return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  }
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

const VIN_VALUES: Record<string, number> = {
  A: 1,
  B: 2,
  C: 3,
  D: 4,
  E: 5,
  F: 6,
  G: 7,
  H: 8,
  J: 1,
  K: 2,
  L: 3,
  M: 4,
  N: 5,
  P: 7,
  R: 9,
  S: 2,
  T: 3,
  U: 4,
  V: 5,
  W: 6,
  X: 7,
  Y: 8,
  Z: 9,
};
const VIN_WEIGHTS = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];

/**
 * A 17-character vehicle identification number whose check character (position 9; ISO 3779 as North America
 * requires it, 49 CFR 565.15) agrees. I, O and Q never occur in a VIN.
 */
export function isValidVin(value: string): boolean {
  const v = value.toUpperCase();
  if (!/^[A-HJ-NPR-Z0-9]{17}$/.test(v)) return false;
  let sum = 0;
  for (let i = 0; i < 17; i++) {
    const c = v[i];
    sum += (c >= '0' && c <= '9' ? c.charCodeAt(0) - 48 : VIN_VALUES[c]) * VIN_WEIGHTS[i];
  }
  const check = sum % 11;
  return v[8] === (check === 10 ? 'X' : String(check));
}

/**
 * A 17-character upper-case run read as a VIN: it holds a letter (a 17-digit number is some other number) and its
 * check character agrees. The scrubber's text.vin and the gate's gate.vin both ask this.
 */
export function readsAsVin(run: string): boolean {
  return /[A-Z]/.test(run) && isValidVin(run);
}

/**
 * A Medicare Beneficiary Identifier's shape (CMS: 11 characters, letters without S, L, O, I, B, Z; written with or
 * without dashes after the 4th and 7th), as regex source. The scrubber's text.us-mbi and the gate's gate.us-mbi both
 * read it.
 */
export const US_MBI_SHAPE =
  '[1-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9]\\d-?[AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9]\\d-?[AC-HJKMNP-RT-Y]{2}\\d{2}';

/** Luhn (mod 10) over the digits of `value`; separators (space, dash) are ignored. */
export function isLuhnValid(value: string): boolean {
  const digits = foldWidth(value).replace(/[\s-]/g, '');
  if (!/^\d{2,}$/.test(digits)) return false;
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** A US SSN as the SSA issues them: not area 000, 666 or 9xx, group not 00, serial not 0000. */
export function isValidUsSsn(value: string): boolean {
  const m = /^(\d{3})-?(\d{2})-?(\d{4})$/.exec(foldWidth(value).trim());
  if (!m) return false;
  const [, area, group, serial] = m;
  return area !== '000' && area !== '666' && area[0] !== '9' && group !== '00' && serial !== '0000';
}

/** A mainland China mobile number (11 digits, 1[3-9]...), with or without +86 and separators. */
export function isCnMobile(value: string): boolean {
  const digits = foldWidth(value)
    .replace(/[\s-]/g, '')
    .replace(/^\+?86/, '');
  return /^1[3-9]\d{9}$/.test(digits);
}

const WIDE = /[\uff01-\uff5e\u3000]/;

/**
 * Full-width ASCII (U+FF01-FF5E) and the ideographic space to their half-width forms, one UTF-16 unit for one, so
 * offsets in the folded text are offsets in the original.
 */
export function foldWidth(text: string): string {
  if (!WIDE.test(text)) return text;
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xff01 && c <= 0xff5e) out += String.fromCharCode(c - 0xfee0);
    else if (c === 0x3000) out += ' ';
    else out += text[i];
  }
  return out;
}

/** Comparison form of any identifier text: width-folded, lower case, no whitespace or punctuation. */
export function normalizeForMatch(value: string): string {
  return foldWidth(value)
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[\s\p{P}\p{S}]+/gu, '');
}
