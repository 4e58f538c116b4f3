import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { IngestActivities } from '../../activities/ingest';
import { WORKFLOWS_PATH } from '../../cli/commands/worker';
import type { IngestRunInput, IngestRunProgress } from '../../schemas/ingest';
import { ingestRunWorkflowId } from '../../workflows/definitions';

/**
 * The workflows' orchestration against a real Temporal dev server (@temporalio/testing with the existing binary),
 * with test-double activities that only count: continue-as-new carries totals, children run with bounded
 * concurrency, retryable failures are retried, and one failing source fails the run at the end without stopping
 * the others.
 */
const temporalBin =
  inject('stack')?.TEMPORAL_BIN ??
  process.env.TEMPORAL_BIN ??
  path.join(os.homedir(), '.cache/tributary/bin/temporal');

let env: TestWorkflowEnvironment;
let bundle: WorkflowBundleWithSourceMap;

beforeAll(async () => {
  env = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: temporalBin } },
  });
  bundle = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} },
  });
});

afterAll(async () => {
  await env?.teardown();
});

interface Behaviour {
  pagesPerSource: number;
  recordsPerPage: number;
  failSource?: string;
  /** Pruning the previews after the run fails every attempt (a database down). */
  failPrune?: boolean;
  flakyFetches?: number;
  fetchDelayMs?: number;
}

function countingActivities(
  b: Behaviour,
  stats: { active: Set<string>; maxActive: number; fetches: number },
): IngestActivities {
  let flaky = b.flakyFetches ?? 0;
  const counts = (n: number) => ({ counts: { in: n } });
  const acts = {
    async fetchPage(input: { institution: string; source: string; cursor?: string }) {
      const key = `${input.institution}/${input.source}`;
      stats.active.add(key);
      stats.maxActive = Math.max(stats.maxActive, stats.active.size);
      stats.fetches++;
      if (flaky > 0) {
        flaky--;
        throw ApplicationFailure.create({ message: 'HTTP 503', type: 'transient', nextRetryDelay: 10 });
      }
      if (b.fetchDelayMs) await new Promise((r) => setTimeout(r, b.fetchDelayMs));
      const i = input.cursor ? Number(input.cursor) : 0;
      const last = i + 1 >= b.pagesPerSource;
      if (last) stats.active.delete(key);
      return { rawKey: `raw/${i}`, nextCursor: last ? undefined : String(i + 1), counts: { pages: 1 } };
    },
    async standardizeBatch(input: { institution: string; source: string }) {
      if (`${input.institution}/${input.source}` === b.failSource)
        throw ApplicationFailure.nonRetryable('not supported: map format x', 'NotSupportedError');
      return { batchKey: 'std/x', ...counts(b.recordsPerPage) };
    },
    async deidentifyBatch() {
      return { batchKey: 'deid/x', counts: { resourcesQuarantined: 1 } };
    },
    async verifyBatch() {
      return { batchKey: 'ver/x', counts: { published: b.recordsPerPage - 1, quarantined: 1 } };
    },
    async publishBatch() {
      return { counts: { resourcesPublished: b.recordsPerPage - 1 } };
    },
    async routeBatch() {
      return { counts: { workItems: 1 } };
    },
    async writeRunManifest(input: { runId: string }) {
      return { outputDir: `/out/${input.runId}`, files: 0 };
    },
    async loadWatermark() {
      return {};
    },
    async saveWatermark() {},
    async prunePreviewVersions() {
      if (b.failPrune)
        throw ApplicationFailure.create({ message: 'queue store unreachable', type: 'transient' });
      return { kept: 1, removed: 2, recent: 0, bytesRemoved: 30 };
    },
    // The page's steps in one call, as activities/ingest.ts composes them: each double's counts, in order.
    async processBatch(input: { institution: string; source: string; route?: boolean }) {
      const steps: Partial<Record<string, number>>[] = [
        (await acts.standardizeBatch(input)).counts,
        (await acts.deidentifyBatch()).counts,
        (await acts.verifyBatch()).counts,
        (await acts.publishBatch()).counts,
      ];
      if (input.route) steps.push((await acts.routeBatch()).counts);
      return { steps };
    },
  };
  return acts as unknown as IngestActivities;
}

async function run(taskQueue: string, b: Behaviour, input: Partial<IngestRunInput>) {
  const stats = { active: new Set<string>(), maxActive: 0, fetches: 0 };
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: bundle,
    activities: countingActivities(b, stats),
  });
  const full: IngestRunInput = {
    runId: taskQueue,
    endpoint: 'http://127.0.0.1:1',
    institutions: ['inst-a', 'inst-b'],
    sources: ['druglabel'],
    incremental: false,
    maxConcurrentSources: 8,
    pageSize: 10,
    scheduled: false,
    route: true,
    imagingQueue: `${taskQueue}-imaging`,
    maxPagesPerRun: 200,
    ...input,
  };
  const outcome = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start('ingestAllWorkflow', {
      taskQueue,
      workflowId: ingestRunWorkflowId(full.runId),
      args: [full],
    });
    try {
      return { result: (await handle.result()) as IngestRunProgress };
    } catch (e) {
      return { error: e as Error };
    }
  });
  return { ...outcome, stats };
}

describe('ingest workflows (test-double activities)', () => {
  it('continues as new before history grows and carries the totals', async () => {
    const { result, error } = await run(
      'wf-can',
      { pagesPerSource: 12, recordsPerPage: 3 },
      { institutions: ['inst-a'], maxPagesPerRun: 5 },
    );
    expect(error).toBeUndefined();
    const counts = result!.sources[0].counts!;
    expect(counts).toMatchObject({ pages: 12, in: 36, published: 24, quarantined: 12, workItems: 12 });
    expect(counts.in).toBe(counts.published + counts.quarantined + counts.rejected);
    // The last run of the child was started by continue-as-new (12 pages, 5 per run: three runs).
    const history = await env.client.workflow.getHandle(result!.sources[0].workflowId).fetchHistory();
    const started = history.events![0].workflowExecutionStartedEventAttributes!;
    expect(started.continuedExecutionRunId).toBeTruthy();
  });

  it('reports the previews pruned after the run, and a pruning that fails without failing the run', async () => {
    const pruned = await run(
      'wf-prune',
      { pagesPerSource: 1, recordsPerPage: 2 },
      { institutions: ['inst-a'] },
    );
    expect(pruned.error).toBeUndefined();
    expect(pruned.result!.previews).toEqual({ kept: 1, removed: 2, recent: 0, bytesRemoved: 30 });
    const failed = await run(
      'wf-prune-fail',
      { pagesPerSource: 1, recordsPerPage: 2, failPrune: true },
      { institutions: ['inst-a'] },
    );
    expect(failed.error).toBeUndefined();
    expect(failed.result!.done).toBe(true);
    expect(failed.result!.previews).toMatchObject({
      error: expect.stringMatching(/queue store unreachable/),
    });
  });

  it('runs at most maxConcurrentSources children at a time and retries transient failures', async () => {
    const { result, error, stats } = await run(
      'wf-lanes',
      { pagesPerSource: 3, recordsPerPage: 2, flakyFetches: 2, fetchDelayMs: 20 },
      {
        institutions: ['inst-a', 'inst-b', 'inst-c', 'inst-d', 'inst-e'],
        sources: ['druglabel', 'insurance'],
        maxConcurrentSources: 2,
      },
    );
    expect(error).toBeUndefined();
    expect(stats.maxActive).toBeLessThanOrEqual(2);
    expect(result!.sources.every((s) => s.status === 'completed')).toBe(true);
    expect(result!.totals).toMatchObject({ pages: 30, in: 60 });
    expect(stats.fetches).toBe(32);
  });

  it('fails the run at the end, naming the failed source, after the others completed', async () => {
    const { error } = await run(
      'wf-fail',
      { pagesPerSource: 2, recordsPerPage: 2, failSource: 'inst-b/druglabel' },
      { institutions: ['inst-a', 'inst-b', 'inst-c'] },
    );
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const cause = (error as WorkflowFailedError).cause as ApplicationFailure;
    expect(cause.type).toBe('IngestRunFailed');
    expect(cause.message).toContain('inst-b/druglabel');
    expect(cause.message).toContain('not supported');
    const progress = cause.details?.[0] as IngestRunProgress;
    expect(progress.sources.map((s) => s.status)).toEqual(['completed', 'failed', 'completed']);
  });
});
