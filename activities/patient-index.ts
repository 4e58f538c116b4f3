import type { FhirResource } from '../mappers/types';
import { indexPatient } from '../deid/index';
import { deriveStagingKey, digestOf, getJson, type BlobStore } from './staging';

/**
 * Each institution's patient index, kept in (encrypted) staging so linkage works across batches and sources:
 * Patient reference → linkage key and the raw Patient (the residual-PHI gate checks later resources against the
 * patient's own names and IDs), and MRN → linkage key (DICOM Patient ID). One object per patient, so parallel
 * activities never rewrite each other's entries.
 */
export interface PatientEntry {
  ref: string;
  /** Other references that name the same Patient (ids a mapper gave it from another page). */
  aliases?: string[];
  mrn?: string;
  linkage: string;
  raw: FhirResource;
}

export interface InstitutionPatients {
  linkageFor(ref: string): string | undefined;
  patientFor(ref: string): FhirResource | undefined;
  linkageForMrn(mrn: string): string | undefined;
}

export function createPatientIndex(store: BlobStore) {
  const cache = new Map<
    string,
    { keys: Set<string>; byRef: Map<string, PatientEntry>; byMrn: Map<string, string> }
  >();
  /**
   * Digest of what this process last wrote under each entry key. A Patient comes back in many batches (every HL7
   * message carries its PID): rewriting an identical entry was over half of the files a run created, each a file
   * creation and a rename. Bounded: forgetting a digest costs one rewrite.
   */
  const written = new Map<string, string>();

  function entryKey(institution: string, ref: string): string {
    return deriveStagingKey(`patients/${institution}`, ref);
  }

  return {
    async record(institution: string, entries: PatientEntry[]): Promise<void> {
      for (const e of entries) {
        const key = entryKey(institution, e.ref);
        const bytes = Buffer.from(JSON.stringify(e));
        const digest = digestOf(bytes);
        // Skipped only while the object is still there (a cleanup underneath must not lose an entry).
        if (written.get(key) === digest && (await store.has(key))) continue;
        await store.put(key, bytes);
        if (written.size >= WRITTEN_MAX) written.clear();
        written.set(key, digest);
      }
    },

    /** Everything known for the institution; reads only entries this worker has not seen yet. */
    async load(institution: string): Promise<InstitutionPatients> {
      let c = cache.get(institution);
      if (!c) {
        c = { keys: new Set(), byRef: new Map(), byMrn: new Map() };
        cache.set(institution, c);
      }
      for (const key of await store.list(`patients/${institution}`)) {
        if (c.keys.has(key)) continue;
        const e = await getJson<PatientEntry>(store, key);
        c.keys.add(key);
        indexPatient(c.byRef, e.ref.slice('Patient/'.length), e);
        for (const alias of e.aliases ?? []) c.byRef.set(alias, e);
        if (e.mrn) c.byMrn.set(e.mrn.trim(), e.linkage);
      }
      const { byRef, byMrn } = c;
      return {
        linkageFor: (ref) => byRef.get(ref)?.linkage,
        patientFor: (ref) => byRef.get(ref)?.raw,
        linkageForMrn: (mrn) => byMrn.get(mrn.trim()),
      };
    },
  };
}

export type PatientIndex = ReturnType<typeof createPatientIndex>;

/** Entry digests remembered per process (see `written`). */
const WRITTEN_MAX = 100_000;
