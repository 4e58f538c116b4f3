/** National identifiers and the ways people's contact details get written down differently at each desk. */

const GB11643_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const GB11643_CHECK = '10X98765432';

/** GB 11643 check character for the first 17 digits of a resident ID. */
export function residentIdCheckChar(first17: string): string {
  if (!/^\d{17}$/.test(first17)) throw new RangeError('resident ID body must be 17 digits');
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(first17[i]) * GB11643_WEIGHTS[i];
  return GB11643_CHECK[sum % 11];
}

export function isValidResidentId(id: string): boolean {
  return /^\d{17}[\dX]$/.test(id) && residentIdCheckChar(id.slice(0, 17)) === id[17];
}

/** A resident ID: region code, birth date YYYYMMDD, 3-digit sequence (odd for men), check character. */
export function makeResidentId(region: string, birthDate: string, sequence: number, male: boolean): string {
  let seq = sequence % 1000;
  if ((seq % 2 === 1) !== male) seq = (seq + 1) % 1000;
  const body = `${region}${birthDate.replaceAll('-', '')}${String(seq).padStart(3, '0')}`;
  return body + residentIdCheckChar(body);
}

/** SSN-style number avoiding area 000, 666 and 9xx, group 00 and serial 0000 (never issued). */
export function makeSsn(area: number, group: number, serial: number): string {
  let a = 1 + (area % 899);
  if (a === 666) a = 667;
  const g = 1 + (group % 99);
  const s = 1 + (serial % 9999);
  return `${String(a).padStart(3, '0')}-${String(g).padStart(2, '0')}-${String(s).padStart(4, '0')}`;
}

const FULL_WIDTH_OFFSET = 0xff10 - 0x30;

/** Digits as full-width characters (１３８...), the way some Chinese input methods type them. */
export function toFullWidthDigits(text: string): string {
  return text.replace(/[0-9]/g, (d) => String.fromCharCode(d.charCodeAt(0) + FULL_WIDTH_OFFSET));
}

/** Mobile number 11 digits (CN) written one of several ways. */
export function formatCnPhone(digits: string, style: number): string {
  switch (style % 4) {
    case 0:
      return digits;
    case 1:
      return `${digits.slice(0, 3)}-${digits.slice(3, 7)}-${digits.slice(7)}`;
    case 2:
      return `+86 ${digits.slice(0, 3)} ${digits.slice(3, 7)} ${digits.slice(7)}`;
    default:
      return `${digits.slice(0, 3)} ${digits.slice(3, 7)} ${digits.slice(7)}`;
  }
}

/** US 10-digit number written one of several ways. */
export function formatUsPhone(digits: string, style: number): string {
  const a = digits.slice(0, 3);
  const b = digits.slice(3, 6);
  const c = digits.slice(6);
  switch (style % 4) {
    case 0:
      return `(${a}) ${b}-${c}`;
    case 1:
      return `${a}-${b}-${c}`;
    case 2:
      return `${a}.${b}.${c}`;
    default:
      return `+1 ${a} ${b} ${c}`;
  }
}
