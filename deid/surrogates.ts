import type { KeyService } from './key-service';
import {
  SURROGATE_EN_FAMILY,
  SURROGATE_EN_GIVEN,
  SURROGATE_EN_TOWNS,
  SURROGATE_ZH_FAMILY,
  SURROGATE_ZH_GIVEN,
} from './dictionaries';
import { foldWidth, normalizeForMatch } from './identifiers';

/**
 * Surrogates: realistic replacements that are the same for the same patient and the same original value (keyed, so
 * they reveal nothing without the key), and that the residual-PHI gate's patterns never mistake for real PHI:
 * fictional phone ranges (555-01xx), example.org mail, TEST-NET addresses, masked digits.
 */
export type SurrogateType =
  | 'name'
  | 'national-id'
  | 'mrn'
  | 'account'
  | 'insurance-id'
  | 'phone'
  | 'email'
  | 'url'
  | 'ip'
  | 'address'
  | 'postal-code'
  | 'age-over-89'
  | 'hospital'
  | 'employer'
  | 'license'
  | 'vehicle'
  | 'device-serial';

export const TAGS: Record<string, string> = {
  name: '[NAME]',
  'national-id': '[ID]',
  mrn: '[MRN]',
  account: '[ACCOUNT]',
  'insurance-id': '[INSURANCE-ID]',
  phone: '[PHONE]',
  email: '[EMAIL]',
  url: '[URL]',
  ip: '[IP]',
  address: '[ADDRESS]',
  'postal-code': '[ZIP]',
  'age-over-89': '[AGE 90+]',
  date: '[DATE]',
  hospital: '[HOSPITAL]',
  employer: '[EMPLOYER]',
  license: '[LICENSE]',
  vehicle: '[VEHICLE]',
  'device-serial': '[SERIAL]',
};

function seed(keys: KeyService, type: string, linkage: string | undefined, original: string): Buffer {
  return Buffer.from(
    keys.hash(`surrogate:${type}`, `${linkage ?? ''}\0${normalizeForMatch(original)}`),
    'hex',
  );
}

const HAN = /\p{Script=Han}/u;
const ALNUM = 'ABCDEFGHJKMNPQRSTVWXYZ23456789';

function digits(s: Buffer, n: number, from = 0): string {
  let out = '';
  for (let i = 0; i < n; i++) out += String(s[(from + i) % s.length] % 10);
  return out;
}

/**
 * A realistic surrogate, the same for the same (type, patient, value). `avoid` says whether a candidate would read as
 * one of the record's own identifiers: surrogates are drawn from name dictionaries, so an address surrogate can come
 * out as "听澜路43号" for a patient whose given name is 听澜, and the residual-PHI gate (rightly) cannot tell the
 * difference. A candidate that gives the original away (see `revealsOriginal`) is redrawn the same way, whoever the
 * value names: the gate knows the patient's own identifiers, not a clinician's or a relative's. Redrawn up to 8 times
 * (deterministically), then replaced by the type's tag.
 */
export function surrogateFor(
  keys: KeyService,
  type: SurrogateType,
  original: string,
  linkage?: string,
  avoid?: (candidate: string) => boolean,
): string {
  const rejected = (candidate: string) => revealsOriginal(type, candidate, original) || !!avoid?.(candidate);
  const first = candidateFor(seed(keys, type, linkage, original), type, original);
  if (!rejected(first)) return first;
  for (let attempt = 1; attempt < 8; attempt++) {
    const next = candidateFor(seed(keys, type, linkage, `${original}\0${attempt}`), type, original);
    if (!rejected(next)) return next;
  }
  return TAGS[type] ?? '[REDACTED]';
}

/**
 * Whether a candidate gives the original away: the same value, for a name any part of it, for an address its street
 * name. The name dictionaries hold real names, and the Chinese family names are the 32 most common ones, so a draw
 * kept the original's family name about once in 32 ("王" for 王, "王听澜" for 王明): one key in ~40 left a bare surname
 * such as 王医生 unchanged. A Chinese candidate shares no character with the original; another name, no word.
 */
export function revealsOriginal(type: SurrogateType, candidate: string, original: string): boolean {
  if (type === 'name') {
    if (HAN.test(original)) {
      const chars = new Set(foldWidth(original));
      return [...candidate].some((c) => chars.has(c));
    }
    const words = new Set(nameWords(original));
    return nameWords(candidate).some((w) => words.has(w));
  }
  if (type === 'address') {
    // Its street name, drawn from the name dictionaries, is not the original's (12 Oakley Street, 光明路).
    if (HAN.test(original)) return foldWidth(original).includes(candidate.replace(/路\d+号$/, ''));
    const words = new Set(nameWords(original));
    return nameWords(candidate).some((w) => w !== 'street' && !/^\d+$/.test(w) && words.has(w));
  }
  return normalizeForMatch(candidate) === normalizeForMatch(original);
}

/** A name's words, compared across case, width and punctuation. */
const nameWords = (name: string): string[] =>
  foldWidth(name)
    .normalize('NFKC')
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean);

function candidateFor(s: Buffer, type: SurrogateType, original: string): string {
  switch (type) {
    case 'name': {
      if (HAN.test(original)) {
        const fam = SURROGATE_ZH_FAMILY[s[0] % SURROGATE_ZH_FAMILY.length];
        const given = SURROGATE_ZH_GIVEN[s[1] % SURROGATE_ZH_GIVEN.length];
        if (original.length <= 1) return fam;
        return original.length === 2 ? fam + given[0] : fam + given;
      }
      const family = SURROGATE_EN_FAMILY[s[0] % SURROGATE_EN_FAMILY.length];
      const parts = original.trim().split(/\s+/);
      if (parts.length === 1) return family;
      return `${SURROGATE_EN_GIVEN[s[1] % SURROGATE_EN_GIVEN.length]} ${family}`;
    }
    case 'phone':
      if (/^\s*(?:\+?86)?\s*1[3-9]/.test(original))
        return `1${3 + (s[0] % 7)}${s[1] % 10}****${digits(s, 4, 2)}`;
      // A Chinese landline (010-62345678, (0571) 8888-1234) keeps a landline's shape, masked as the mobile is: a US
      // 555 number in a Chinese note read as a foreign contact.
      if (/^\s*(?:\+?86[\s-]?)?[(（]?0[1-9]\d{1,2}[)）]?[\s-]?\d{7,8}\b/.test(original))
        return `0${1 + (s[0] % 9)}${s[1] % 10}-****${digits(s, 4, 2)}`;
      return `555-555-01${digits(s, 2)}`;
    case 'email':
      return `user.${digits(s, 6)}@example.org`;
    case 'url':
      return `https://example.org/r/${digits(s, 6)}`;
    case 'ip':
      return `192.0.2.${1 + (s[0] % 254)}`;
    case 'national-id':
      if (/^\d{3}[- ]?\d{2}[- ]?\d{4}$/.test(original.trim())) return `***-**-${digits(s, 4)}`;
      // The last four of an SSN ("SSN last 4: 6789"): four other digits.
      if (/^\d{4}$/.test(original.trim())) return digits(s, 4);
      return `${digits(s, 6)}********${digits(s, 4, 6)}`;
    case 'address': {
      // A street for a street address; a place without a number (a district, a village, a city) gets a place: in
      // Chinese an unnamed one, as hospitals do, in English a town.
      const street = /\d/.test(original);
      if (HAN.test(original))
        return street
          ? `${SURROGATE_ZH_GIVEN[s[0] % SURROGATE_ZH_GIVEN.length]}路${1 + (s[1] % 199)}号`
          : '某地';
      return street
        ? `${1 + ((s[0] * 256 + s[1]) % 9000)} ${SURROGATE_EN_FAMILY[s[2] % SURROGATE_EN_FAMILY.length]} Street`
        : SURROGATE_EN_TOWNS[s[0] % SURROGATE_EN_TOWNS.length];
    }
    case 'postal-code':
      return '00000';
    case 'age-over-89':
      return HAN.test(original) ? '90岁以上' : '90+';
    case 'hospital':
      return HAN.test(original) ? '某医院' : 'a hospital';
    case 'employer':
      return HAN.test(original) ? '某单位' : 'an employer';
    default: {
      let id = '';
      for (let i = 0; i < 8; i++) id += ALNUM[s[i] % ALNUM.length];
      return `${type === 'mrn' ? 'MRN' : type === 'account' ? 'ACCT' : 'ID'}-${id}`;
    }
  }
}
