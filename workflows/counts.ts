import type { SourceCounts } from '../schemas/ingest';

/**
 * Count arithmetic for the workflows, without zod: workflow code runs in a fresh sandbox per execution, so it
 * imports only types from schemas/ and keeps its runtime small.
 */
export function emptyCounts(): SourceCounts {
  return {
    in: 0,
    published: 0,
    quarantined: 0,
    rejected: 0,
    resourcesPublished: 0,
    resourcesQuarantined: 0,
    dicomPublished: 0,
    workItems: 0,
    pages: 0,
    pagesQuarantined: 0,
    sourceGaps: 0,
    imagesWithoutPatient: 0,
    itemsUpdated: 0,
    itemConflicts: 0,
  };
}

/** a + b, field by field; a field `a` lacks (counts from before it existed) starts at 0. */
export function addCounts(a: SourceCounts, b: Partial<SourceCounts>): SourceCounts {
  const out = { ...emptyCounts(), ...a };
  for (const k of Object.keys(out) as (keyof SourceCounts)[]) out[k] = (out[k] ?? 0) + (b[k] ?? 0);
  return out;
}
