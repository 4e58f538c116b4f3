import { defineQuery, setHandler } from '@temporalio/workflow';
import type { IngestFeedInput, IngestFeedResult } from '../schemas/feed';
import type { IngestSourceInput, IngestSourceProgress, SourceCounts } from '../schemas/ingest';
import { addCounts, emptyCounts } from './counts';
import { processPage } from './ingest';

/**
 * One Kafka micro-batch (one topic partition, one offset range) staged by the intake bridge as pages, one per
 * institution and source. Each page runs the same step chain as a pulled page (standardize, de-identify, verify,
 * publish, route), so keys derive from the page's raw key and a replay rewrites the same objects.
 */
export const feedProgressQuery = defineQuery<{
  pagesDone: number;
  pages: number;
  step: string;
  counts: SourceCounts;
}>('feedProgress');

export async function ingestFeedWorkflow(input: IngestFeedInput): Promise<IngestFeedResult> {
  const state = { pagesDone: 0, pages: input.pages.length, step: 'starting', counts: emptyCounts() };
  setHandler(feedProgressQuery, () => state);
  // EHR pages first: their Patients fill the institution's patient index that the other sources link to.
  const pages = [...input.pages].sort((a, b) => (a.source === 'ehr' ? 0 : 1) - (b.source === 'ehr' ? 0 : 1));
  for (const page of pages) {
    const sourceInput: IngestSourceInput = {
      runId: input.runId,
      endpoint: `kafka:${input.topic}`,
      institution: page.institution,
      source: page.source,
      incremental: false,
      pageSize: page.messages,
      fhirServerUrl: input.fhirServerUrl,
      stowUrl: input.stowUrl,
      route: input.route,
      imagingQueue: input.imagingQueue,
      maxPagesPerRun: 1,
    };
    const progress: IngestSourceProgress = {
      institution: page.institution,
      source: page.source,
      pages: 0,
      step: 'starting',
      counts: emptyCounts(),
    };
    state.step = `${page.institution}/${page.source}`;
    const delta = await processPage(
      sourceInput,
      { rawKey: page.rawKey, digest: page.digest, counts: { pages: 1 } },
      progress,
    );
    state.counts = addCounts(state.counts, { ...delta, pages: (delta.pages ?? 0) + 1 });
    state.pagesDone++;
  }
  state.step = 'done';
  const staged = input.pages.reduce((n, p) => n + p.messages, 0);
  return {
    topic: input.topic,
    partition: input.partition,
    firstOffset: input.firstOffset,
    lastOffset: input.lastOffset,
    consumed: input.consumed,
    staged,
    dlq: input.dlq,
    counts: state.counts,
  };
}
