import {
  ApplicationFailure,
  ParentClosePolicy,
  condition,
  continueAsNew,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  startChild,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { IngestActivities, PageRef } from '../activities/ingest';
import type {
  IngestRunInput,
  IngestRunProgress,
  IngestSourceInput,
  IngestSourceProgress,
  SourceCounts,
  SourceProgress,
} from '../schemas/ingest';
import { addCounts, emptyCounts } from './counts';
import {
  ingestSourceWorkflowId,
  PREVIEW_GRACE_MINUTES,
  runProgressQuery,
  sourceProgressQuery,
} from './definitions';

/**
 * Ingestion orchestration. Deterministic only: every effect is an activity, and activities exchange staging keys,
 * digests and counts, never patient data.
 */

const retry: ActivityOptions['retry'] = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '30s',
  maximumAttempts: 12,
};

/**
 * The run's own activity (writeRunManifest, which heartbeats per output file it counts and per Patient file it
 * assesses, a few milliseconds apart). A short heartbeat timeout is what bounds recovery when its worker dies: with 2
 * minutes, a SIGKILL that landed while the manifest was being written held the run for 121 s in a clean-clone CI run;
 * with 30 s, for 31.6 s in two of five clean-clone CI runs on 2026-12-05 (the SIGKILL test in ingest-faults.test.ts
 * prints where recovery waited). It runs once every source is done, on a worker with little else to do.
 */
const io = proxyActivities<IngestActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '10 seconds',
  retry,
});
/**
 * Pulls from an institution retry 429 and 5xx for as long as the institution needs (bounded by time, not by
 * attempts: a throttling storm must not fail a run); bad data and bad requests are non-retryable and stop at once.
 */
const pull = proxyActivities<IngestActivities>({
  startToCloseTimeout: '10 minutes',
  scheduleToCloseTimeout: '2 hours',
  heartbeatTimeout: '2 minutes',
  retry: { ...retry, maximumAttempts: undefined },
});
/**
 * A page's short CPU steps (standardize, de-identify, verify, publish, route) run as local activities on the
 * workflow's own worker: the chain runs inside one workflow task instead of a server round trip (a workflow task and
 * an activity task) per step. Each is still its own idempotent activity whose output key derives from its input; a
 * worker killed in the middle of the chain loses the workflow task and replays the steps, which rewrite the same
 * keys. Their results go into history as markers: keys and counts only, like any activity result. Retries back off
 * locally up to `localRetryThreshold`, then through a durable timer.
 */
const pageSteps = proxyLocalActivities<IngestActivities>({
  startToCloseTimeout: '10 minutes',
  localRetryThreshold: '10 seconds',
  retry,
});
/** Housekeeping after a run (pruning old previews): a few attempts, since the run's outcome does not wait on it. */
const housekeeping = proxyActivities<IngestActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '10 seconds',
  retry: { ...retry, maximumAttempts: 3 },
});
/** Histories recorded before the steps became local activities replay with their original commands. */
const PAGE_STEPS_LOCAL = 'page-steps-local';
/** The watermark's read and write (one small staging object) are local activities too: a round trip per source less. */
const WATERMARK_LOCAL = 'watermark-local';
/**
 * The pull is a local activity too: a normal activity costs a server round trip (schedule, dispatch, complete) and
 * a workflow task to resume on, per page, which on the e2e bench was most of Temporal's overhead. Same retry rule
 * as `pull` (bounded by time, not attempts): past `localRetryThreshold` a backoff waits in a durable timer. It loses
 * heartbeat-based stall detection, so startToClose bounds an attempt (a Bulk export's polls stay under it, see
 * connectors.ts).
 */
const pullLocal = proxyLocalActivities<IngestActivities>({
  startToCloseTimeout: '10 minutes',
  scheduleToCloseTimeout: '2 hours',
  localRetryThreshold: '10 seconds',
  retry: { ...retry, maximumAttempts: undefined },
});
/** Histories recorded while the pull was a normal activity replay with their original commands. */
const FETCH_LOCAL = 'fetch-local';
/** A study's de-identification and denoising as one imaging activity (cleanImages); histories before it replay with two. */
const IMAGING_ONE_TASK = 'imaging-one-task';
/**
 * A scheduled run's id also carries its execution's run id: start times have one-second resolution, so two firings
 * in the same second (a manual trigger next to the interval) got the same run id, child workflow ids and outputs.
 */
const SCHEDULED_RUN_UNIQUE = 'scheduled-run-unique';
/**
 * The first version took the run id's first 8 characters, but this server issues UUIDv7 run ids whose first 8
 * characters are the top of a millisecond timestamp (they change once every 65 s), so two firings in one second
 * still collided. The last 12 characters are random in both UUIDv4 and UUIDv7.
 */
const SCHEDULED_RUN_RANDOM_TAIL = 'scheduled-run-random-tail';
/**
 * A non-imaging page's steps after the pull run as one local activity (processBatch) instead of one each: an
 * activation, a marker and an SDK round trip per step less. Histories recorded with one local activity per step
 * replay with those.
 */
const PAGE_STEPS_ONE_CALL = 'page-steps-one-call';
/**
 * New executions record this one patch for every change above (the local pull, page steps and watermark, one call per
 * page, one imaging task per study): each patch costs a marker, and the SDK's core upserts the TemporalChangeVersion
 * search attribute for each, a visibility write on the server. Four of them per source workflow were four upserts
 * per source. Histories recorded before it replay through the individual patches (see `uses`).
 */
const CURRENT_SOURCE_PATH = 'current-source-path';
/** Runs recorded before the run pruned old preview versions at its end replay without that activity. */
const PRUNE_PREVIEWS_AFTER_RUN = 'prune-previews-after-run';

/**
 * Whether this execution takes the path `patch` introduced: always when it records CURRENT_SOURCE_PATH (every new
 * execution); otherwise (a history from before it, in replay) as that history recorded `patch`. Short-circuits, so a
 * new execution never records the individual patch.
 */
function uses(patch: string): boolean {
  return patched(CURRENT_SOURCE_PATH) || patched(patch);
}

/**
 * Pixel work runs on its own task queue so it cannot starve ingestion's I/O. It heartbeats after every instance
 * (milliseconds to a second of work each), so a short heartbeat timeout is what bounds recovery from a dead worker:
 * with 2 minutes, a study in flight on a killed worker waited 2 minutes before its retry.
 */
function imagingActivities(taskQueue: string) {
  return proxyActivities<IngestActivities>({
    taskQueue,
    startToCloseTimeout: '20 minutes',
    heartbeatTimeout: '30 seconds',
    retry,
  });
}

/** One child per institution and source, at most `maxConcurrentSources` at a time; the run fails only at the end. */
export async function ingestAllWorkflow(input: IngestRunInput): Promise<IngestRunProgress> {
  const info = workflowInfo();
  const startedAt = info.startTime.toISOString();
  // A schedule fires with one fixed input; each firing's window comes from its start time so it is its own run.
  const runId = !input.scheduled
    ? input.runId
    : patched(SCHEDULED_RUN_RANDOM_TAIL)
      ? `${input.runId}-${compactTime(startedAt)}-${info.runId.slice(-12)}`
      : patched(SCHEDULED_RUN_UNIQUE)
        ? `${input.runId}-${compactTime(startedAt)}-${info.runId.slice(0, 8)}`
        : `${input.runId}-${compactTime(startedAt)}`;
  const progress: IngestRunProgress = {
    runId,
    // EHR first: its Patients fill the institution's patient index that the other sources link to.
    sources: [...input.sources]
      .sort((a, b) => (a === 'ehr' ? -1 : b === 'ehr' ? 1 : 0))
      .flatMap((source) =>
        input.institutions
          .filter(
            (institution) =>
              !input.institutionSources || (input.institutionSources[institution]?.includes(source) ?? false),
          )
          .map((institution): SourceProgress => ({
            institution,
            source,
            workflowId: ingestSourceWorkflowId(institution, source, runId),
            status: 'pending',
          })),
      ),
    totals: emptyCounts(),
    done: false,
  };
  setHandler(runProgressQuery, () => progress);

  const ehrSettled = (institution: string) =>
    progress.sources.every(
      (s) =>
        s.source !== 'ehr' ||
        s.institution !== institution ||
        s.status === 'completed' ||
        s.status === 'failed',
    );

  let next = 0;
  async function lane(): Promise<void> {
    while (next < progress.sources.length) {
      const entry = progress.sources[next++];
      // Every EHR entry was taken by a lane before any other source, so this wait cannot starve the lanes.
      if (entry.source !== 'ehr') await condition(() => ehrSettled(entry.institution));
      entry.status = 'running';
      try {
        const child = await startChild(ingestSourceWorkflow, {
          workflowId: entry.workflowId,
          args: [
            {
              runId,
              endpoint: input.endpoint,
              institution: entry.institution,
              source: entry.source,
              since: input.since,
              incremental: input.incremental,
              pageSize: input.pageSize,
              fhirServerUrl: input.fhirServerUrl,
              stowUrl: input.stowUrl,
              route: input.route,
              imagingQueue: input.imagingQueue,
              maxPagesPerRun: input.maxPagesPerRun,
              startedAt,
            },
          ],
          parentClosePolicy: ParentClosePolicy.TERMINATE,
        });
        entry.counts = await child.result();
        entry.status = 'completed';
        progress.totals = addCounts(progress.totals, entry.counts);
      } catch (e) {
        entry.status = 'failed';
        entry.error = describeFailure(e);
      }
    }
  }
  const lanes = Math.min(input.maxConcurrentSources, progress.sources.length);
  await Promise.all(Array.from({ length: lanes }, () => lane()));

  const manifest = await io.writeRunManifest({ runId });
  progress.outputDir = manifest.outputDir;
  // Absent from the manifest activity's result in histories written before the release's risk was assessed.
  progress.risk = manifest.risk?.institutions;
  if (manifest.risk?.linkedPersons) progress.linkedPersons = manifest.risk.linkedPersons;
  // A corrected study's old pictures go once nothing refers to them, so the preview folder does not only grow. The
  // run's outcome does not depend on it: a failure is reported, and the next run or the CLI prunes again.
  if (patched(PRUNE_PREVIEWS_AFTER_RUN)) {
    try {
      const pruned = await housekeeping.prunePreviewVersions({ graceMinutes: PREVIEW_GRACE_MINUTES });
      if (pruned) progress.previews = pruned;
    } catch (e) {
      progress.previews = { error: describeFailure(e) };
    }
  }
  progress.done = true;
  const failed = progress.sources.filter((s) => s.status === 'failed');
  if (failed.length > 0) {
    throw ApplicationFailure.nonRetryable(
      `${failed.length} of ${progress.sources.length} sources failed: ${failed.map((f) => `${f.institution}/${f.source} (${f.error})`).join('; ')}`,
      'IngestRunFailed',
      progress,
    );
  }
  return progress;
}

/**
 * Pull one institution's source page by page; each page runs the step chain before the next is fetched, so a
 * killed worker resumes at the page it was on and every step rewrites the same keys.
 */
export async function ingestSourceWorkflow(input: IngestSourceInput): Promise<SourceCounts> {
  const startedAt = input.startedAt ?? workflowInfo().startTime.toISOString();
  const progress: IngestSourceProgress = {
    institution: input.institution,
    source: input.source,
    pages: input.totals?.pages ?? 0,
    cursor: input.cursor,
    step: 'starting',
    counts: input.totals ?? emptyCounts(),
  };
  setHandler(sourceProgressQuery, () => progress);

  let since = input.since;
  if (input.incremental && !since && input.cursor === undefined) {
    const watermarks = uses(WATERMARK_LOCAL) ? pageSteps : io;
    since = (await watermarks.loadWatermark({ institution: input.institution, source: input.source })).since;
  }

  let cursor = input.cursor;
  let pagesThisRun = 0;
  for (;;) {
    progress.step = 'fetch';
    // Decided per page, like the steps: a run begun with normal-activity pulls switches at a page boundary.
    const fetcher = uses(FETCH_LOCAL) ? pullLocal : pull;
    const page = await fetcher.fetchPage({
      runId: input.runId,
      endpoint: input.endpoint,
      institution: input.institution,
      source: input.source,
      cursor,
      since,
      pageSize: input.pageSize,
    });
    progress.counts = addCounts(progress.counts, page.counts);
    if (page.rawKey) progress.counts = addCounts(progress.counts, await processPage(input, page, progress));
    cursor = page.nextCursor;
    progress.pages = progress.counts.pages;
    progress.cursor = cursor;
    pagesThisRun++;
    if (cursor === undefined) break;
    if (workflowInfo().continueAsNewSuggested || pagesThisRun >= input.maxPagesPerRun) {
      await continueAsNew<typeof ingestSourceWorkflow>({
        ...input,
        since,
        cursor,
        totals: progress.counts,
        startedAt,
      });
    }
  }

  progress.step = 'done';
  const watermarks = uses(WATERMARK_LOCAL) ? pageSteps : io;
  await watermarks.saveWatermark({ institution: input.institution, source: input.source, since: startedAt });
  return progress.counts;
}

/** The step chain for one page. Each step's result carries its output key and its share of the counts. */
export async function processPage(
  input: IngestSourceInput,
  page: PageRef,
  progress: IngestSourceProgress,
): Promise<SourceCounts> {
  const ctx = { runId: input.runId, institution: input.institution, source: input.source };
  // Decided once per page: a page begun under the old command sequence finishes under it.
  const step = uses(PAGE_STEPS_LOCAL) ? pageSteps : io;
  let delta = emptyCounts();
  let verifyInput: string | undefined;

  if (input.source !== 'imaging' && step === pageSteps && uses(PAGE_STEPS_ONE_CALL)) {
    progress.step = 'page-steps';
    const { steps } = await pageSteps.processBatch({
      ...ctx,
      rawKey: page.rawKey!,
      fhirServerUrl: input.fhirServerUrl,
      stowUrl: input.stowUrl,
      route: input.route,
    });
    for (const counts of steps) delta = addCounts(delta, counts);
    return delta;
  }

  if (input.source === 'imaging') {
    const imaging = imagingActivities(input.imagingQueue);
    let clean: { imagesKey: string };
    if (uses(IMAGING_ONE_TASK)) {
      progress.step = 'clean-images';
      const cleaned = await imaging.cleanImages({ ...ctx, rawKey: page.rawKey! });
      delta = addCounts(delta, cleaned.counts);
      clean = cleaned;
    } else {
      progress.step = 'deidentify-images';
      const deid = await imaging.deidentifyImages({ ...ctx, rawKey: page.rawKey! });
      delta = addCounts(delta, deid.counts);
      progress.step = 'denoise-images';
      const denoised = await imaging.denoiseImages({ ...ctx, imagesKey: deid.imagesKey });
      // Histories from before it carry no counts here.
      delta = addCounts(delta, denoised.counts ?? {});
      clean = denoised;
    }
    progress.step = 'standardize-images';
    const std = await step.standardizeImages({ ...ctx, imagesKey: clean.imagesKey });
    delta = addCounts(delta, std.counts);
    verifyInput = std.batchKey;
  } else {
    progress.step = 'standardize';
    const std = await step.standardizeBatch({ ...ctx, rawKey: page.rawKey! });
    delta = addCounts(delta, std.counts);
    if (std.batchKey) {
      progress.step = 'deidentify';
      const deid = await step.deidentifyBatch({ ...ctx, batchKey: std.batchKey });
      delta = addCounts(delta, deid.counts);
      verifyInput = deid.batchKey;
    }
  }
  if (!verifyInput) return delta;

  progress.step = 'verify';
  const verified = await step.verifyBatch({ ...ctx, batchKey: verifyInput });
  delta = addCounts(delta, verified.counts);
  progress.step = 'publish';
  const published = await step.publishBatch({
    ...ctx,
    batchKey: verified.batchKey,
    fhirServerUrl: input.fhirServerUrl,
    stowUrl: input.stowUrl,
  });
  delta = addCounts(delta, published.counts);
  if (input.route) {
    progress.step = 'route';
    const routed = await step.routeBatch({ ...ctx, batchKey: verified.batchKey });
    delta = addCounts(delta, routed.counts);
  }
  return delta;
}

function describeFailure(e: unknown): string {
  let err = e as { message?: string; cause?: unknown; type?: string } | undefined;
  // Child failures wrap activity failures wrap the application failure: report the innermost reason.
  while (err?.cause && typeof err.cause === 'object') err = err.cause as typeof err;
  return `${err?.type ?? 'error'}: ${err?.message ?? 'unknown'}`;
}

function compactTime(iso: string): string {
  return iso
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'z')
    .toLowerCase();
}
