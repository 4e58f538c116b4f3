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
  };
}

export function addCounts(a: SourceCounts, b: Partial<SourceCounts>): SourceCounts {
  const out = { ...a };
  for (const k of Object.keys(out) as (keyof SourceCounts)[]) out[k] += b[k] ?? 0;
  return out;
}
