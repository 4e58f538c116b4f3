import type { FhirResource } from '../mappers/types';

/**
 * The part of an institution's patient index one de-identification batch can ask for, so that the batch can run on
 * a step thread without the whole index crossing to it for every batch.
 *
 * The engine (deid/index.ts, deid/fhir-deid.ts) asks linkageFor/patientFor only for a string a `reference` holds,
 * that string up to its `/_history`, or `Patient/<id>` of a Patient's own id. The thread checks every question
 * against the same set: one outside it (an engine change this module has not followed) marks the batch
 * `unpredicted`, and the step library runs that batch again in the main thread with the full index, rather than
 * answer "unknown" where the index might have known.
 */
export interface SlicedPatient {
  linkage: string | undefined;
  raw: FhirResource | undefined;
}

export type PatientSlice = Map<string, SlicedPatient>;

/** Every index key the engine can ask for while de-identifying these resources. */
export function patientKeysOf(resources: readonly FhirResource[]): Set<string> {
  const keys = new Set<string>();
  const stack: unknown[] = [...resources];
  while (stack.length) {
    const v = stack.pop();
    if (!v || typeof v !== 'object') continue;
    if (Array.isArray(v)) {
      for (const x of v) if (x && typeof x === 'object') stack.push(x);
      continue;
    }
    const o = v as Record<string, unknown>;
    if (o.resourceType === 'Patient' && typeof o.id === 'string') keys.add(`Patient/${o.id}`);
    for (const k in o) {
      const x = o[k];
      if (k === 'reference' && typeof x === 'string') {
        keys.add(x);
        const h = x.indexOf('/_history');
        if (h >= 0) keys.add(x.slice(0, h));
      } else if (x && typeof x === 'object') stack.push(x);
    }
  }
  return keys;
}

/** The index's answers for those keys, where it has one. */
export function slicePatients(
  resources: readonly FhirResource[],
  index: { linkageFor: (ref: string) => string | undefined; patientFor: (ref: string) => FhirResource | undefined },
): PatientSlice {
  const slice: PatientSlice = new Map();
  for (const key of patientKeysOf(resources)) {
    const linkage = index.linkageFor(key);
    const raw = index.patientFor(key);
    if (linkage !== undefined || raw !== undefined) slice.set(key, { linkage, raw });
  }
  return slice;
}

/** linkageFor/patientFor over a slice, for the thread; `unpredicted()` says whether a question fell outside it. */
export function lookupsOf(resources: readonly FhirResource[], slice: PatientSlice) {
  let keys: Set<string> | undefined;
  let unpredicted = false;
  const miss = (ref: string): undefined => {
    // Most references name no indexed Patient (Encounter/…, Practitioner/…): the set is built once, on the first.
    keys ??= patientKeysOf(resources);
    if (!keys.has(ref)) unpredicted = true;
    return undefined;
  };
  return {
    linkageFor: (ref: string): string | undefined => {
      const e = slice.get(ref);
      return e ? e.linkage : miss(ref);
    },
    patientFor: (ref: string): FhirResource | undefined => {
      const e = slice.get(ref);
      return e ? e.raw : miss(ref);
    },
    unpredicted: () => unpredicted,
  };
}
