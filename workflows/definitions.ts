import { defineQuery } from '@temporalio/workflow';
import type { IngestRunProgress, IngestSourceProgress } from '../schemas/ingest';

/** Queries the CLI (`tributary ingest status`) and the demo use to show progress. Shared by workflows and clients. */
export const runProgressQuery = defineQuery<IngestRunProgress>('runProgress');
export const sourceProgressQuery = defineQuery<IngestSourceProgress>('sourceProgress');

/** Workflow ids derive from what they process; none carries patient data. */
export function ingestRunWorkflowId(runId: string): string {
  return `ingest:all:${runId}`;
}

export function ingestSourceWorkflowId(institution: string, source: string, window: string): string {
  return `ingest:${institution}:${source}:${window}`;
}

/**
 * A preview version no stored item refers to is left alone this long: its item may be in a concurrent run's routing
 * step, written but not yet stored. The run's own pruning and `tributary queues prune-previews --grace` both use it.
 */
export const PREVIEW_GRACE_MINUTES = 60;
