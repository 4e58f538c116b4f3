import crypto from 'node:crypto';
import path from 'node:path';
import type { Config } from '../platform/config';
import { loadKey, type SecretKey } from '../platform/keys';
import { HmacSha256 } from './hmac-sha256';

/**
 * One key service for pseudonyms, date offsets and DICOM UIDs, used by FHIR, free-text and DICOM
 * de-identification alike, so the same person gets the same pseudonym and date offset everywhere.
 *
 * Linkage: a normalized national ID (resident ID, SSN) links a person across institutions; without one, the
 * institution plus MRN links them within that institution. Every derived value is an HMAC under a sub-key of the
 * project key (HKDF), so nothing can be derived without the key and rotating the key rotates everything.
 */
export interface LinkageSubject {
  nationalId?: string;
  institution: string;
  mrn?: string;
}

export interface KeyService {
  readonly keyId: string;
  /** Opaque, stable linkage key for a subject (an HMAC, safe to carry as a reference). */
  linkageKey(subject: LinkageSubject): string;
  /** Stable pseudonym for a linkage key, e.g. `P7K2M9Q4X1B8D3F6`. */
  pseudonym(linkage: string): string;
  /**
   * The id of a linked person's Patient at an institution (16 hex). Scoped by institution, as every other resource
   * id is: one person at two institutions is two Patient records (each with its own identifiers, addresses and
   * history), and under one id a FHIR server or a Bulk import would keep only the one written last. What links them
   * is the pseudonym, which each of their Patients carries as an identifier (`PSEUDONYM_SYSTEM`) and their DICOM
   * files as Patient ID. FHIR and DICOM de-identification both take it from here, so an ImagingStudy built from
   * de-identified DICOM refers to the Patient the EHR published.
   */
  patientId(institution: string, linkage: string): string;
  /** Whole days to add to every date of this subject, in [-365, -1] ∪ [1, 365]: never zero. */
  dateOffsetDays(linkage: string): number;
  /** A DICOM UID remapped under the key: `2.25.<decimal>`; the same input always maps to the same output. */
  uid(original: string): string;
  /** A keyed digest of any value in a domain (e.g. `identifier:http://hospital/mrn`), hex. */
  hash(domain: string, value: string): string;
}

/**
 * The system of the identifier that carries a person's pseudonym on each of their Patients (one per institution), so
 * a study finds a person's records across institutions by one search: `Patient?identifier=<system>|<pseudonym>`.
 */
export const PSEUDONYM_SYSTEM = 'urn:tributary:person-pseudonym';

/** The pseudonym a de-identified Patient carries, if any. */
export function pseudonymOf(patient: Readonly<Record<string, unknown>>): string | undefined {
  if (!Array.isArray(patient.identifier)) return undefined;
  for (const i of patient.identifier as { system?: unknown; value?: unknown }[])
    if (i?.system === PSEUDONYM_SYSTEM && typeof i.value === 'string') return i.value;
  return undefined;
}

const BASE32 = 'ABCDEFGHJKMNPQRSTVWXYZ0123456789'.slice(0, 32);

/** Full-width to half-width, no spaces or dashes, upper case: the same ID however it was typed. */
export function normalizeIdentifier(value: string): string {
  return value
    .normalize('NFKC')
    .replace(/[\s\-‐-―_.()/]/g, '')
    .toUpperCase();
}

export function linkageInput(subject: LinkageSubject): string {
  if (subject.nationalId && normalizeIdentifier(subject.nationalId).length > 0) {
    return `nid:${normalizeIdentifier(subject.nationalId)}`;
  }
  if (subject.mrn && normalizeIdentifier(subject.mrn).length > 0) {
    return `mrn:${subject.institution}:${normalizeIdentifier(subject.mrn)}`;
  }
  throw new Error('linkage needs a national ID or an MRN');
}

function subKey(master: Buffer, label: string): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', master, Buffer.alloc(0), `tributary/${label}`, 32));
}

/**
 * Entries a key service keeps per cache. A worker's key service lives as long as the process, and DICOM UIDs and
 * patients keep coming: each cache starts over when full (its values are recomputed on demand, identically).
 */
const CACHE_LIMIT = 100_000;

function remember<V>(cache: Map<string, V>, key: string, value: V): V {
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(key, value);
  return value;
}

/**
 * A class rather than an object of closures: every key service's methods are the same functions, so code optimized
 * while one batch ran keeps calling them directly for the next batch's key service.
 */
class HmacKeyService implements KeyService {
  readonly keyId: string;
  private readonly linkageHmac: HmacSha256;
  private readonly pseudonymHmac: HmacSha256;
  private readonly dateHmac: HmacSha256;
  private readonly uidHmac: HmacSha256;
  private readonly hashHmac: HmacSha256;
  private readonly pseudonymCache = new Map<string, string>();
  // References to the same practitioner or encounter repeat across a batch: an HMAC is worth caching.
  private hashCache = new Map<string, Map<string, string>>();
  private hashCacheSize = 0;
  private readonly offsetCache = new Map<string, number>();
  private readonly uidCache = new Map<string, string>();

  constructor(secret: Pick<SecretKey, 'key' | 'keyId'>) {
    this.keyId = secret.keyId;
    // Each sub-key's HMAC pads are hashed once here, not once per call.
    this.linkageHmac = new HmacSha256(subKey(secret.key, 'linkage'));
    this.pseudonymHmac = new HmacSha256(subKey(secret.key, 'pseudonym'));
    this.dateHmac = new HmacSha256(subKey(secret.key, 'date-offset'));
    this.uidHmac = new HmacSha256(subKey(secret.key, 'dicom-uid'));
    this.hashHmac = new HmacSha256(subKey(secret.key, 'value-hash'));
  }

  linkageKey(subject: LinkageSubject): string {
    return this.linkageHmac.digest(linkageInput(subject)).toString('hex').slice(0, 32);
  }

  pseudonym(linkage: string): string {
    let p = this.pseudonymCache.get(linkage);
    if (!p) {
      const d = this.pseudonymHmac.digest(linkage);
      p = 'P';
      for (let i = 0; i < 15; i++) p += BASE32[d[i] & 31];
      remember(this.pseudonymCache, linkage, p);
    }
    return p;
  }

  patientId(institution: string, linkage: string): string {
    return this.hash('patient-id', `${institution}|${linkage}`).slice(0, 16);
  }

  dateOffsetDays(linkage: string): number {
    let o = this.offsetCache.get(linkage);
    if (o === undefined) {
      const n = this.dateHmac.digest(linkage).readUInt32BE(0) % 730;
      o = remember(this.offsetCache, linkage, n < 365 ? n - 365 : n - 364); // -365..-1 or 1..365
    }
    return o;
  }

  uid(original: string): string {
    const trimmed = original.replace(/[\0 ]+$/, '');
    let u = this.uidCache.get(trimmed);
    if (!u)
      u = remember(
        this.uidCache,
        trimmed,
        '2.25.' + BigInt('0x' + this.uidHmac.digest(trimmed).subarray(0, 16).toString('hex')).toString(10),
      );
    return u;
  }

  hash(domain: string, value: string): string {
    let byValue = this.hashCache.get(domain);
    if (!byValue) this.hashCache.set(domain, (byValue = new Map()));
    let h = byValue.get(value);
    if (h === undefined) {
      if (this.hashCacheSize >= CACHE_LIMIT) {
        this.hashCache.clear();
        this.hashCache.set(domain, (byValue = new Map()));
        this.hashCacheSize = 0;
      }
      h = this.hashHmac.hex16(domain, value);
      byValue.set(value, h);
      this.hashCacheSize++;
    }
    return h;
  }
}

export function createKeyService(secret: Pick<SecretKey, 'key' | 'keyId'>): KeyService {
  return new HmacKeyService(secret);
}

/**
 * The de-identification key: TRIBUTARY_DEID_KEY, or TRIBUTARY_DEID_KEY_FILE / an explicit `--key-file`. There is
 * no default key. `generateLocal` (the local demo only) creates `.stack/keys/deid.key` once.
 */
export function loadDeidKey(
  config: Config,
  options: { keyFile?: string; generateLocal?: boolean } = {},
): SecretKey {
  return loadKey({
    purpose: 'de-identification key',
    envName: 'TRIBUTARY_DEID_KEY',
    envValue: options.keyFile ? undefined : config.env.TRIBUTARY_DEID_KEY,
    fileEnvName: 'TRIBUTARY_DEID_KEY_FILE',
    file: options.keyFile ?? config.env.TRIBUTARY_DEID_KEY_FILE,
    defaultFile: options.generateLocal ? path.join(config.paths.keys, 'deid.key') : undefined,
    generate: options.generateLocal,
  });
}
