import crypto from 'node:crypto';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson } from '../../activities/staging';
import { createIngestSchedule } from '../../cli/commands/ingest';
import { startIngestWorkers, type RunningWorkers } from '../../cli/commands/worker';
import { createTemporalClient } from '../../platform/temporal';
import type { IngestRunProgress } from '../../schemas/ingest';
import { createIngestWorld, worldDeps, type IngestWorld } from './ingest-support';

/**
 * `tributary ingest schedule` against the real Temporal server: the Schedule exists with its interval, a trigger
 * starts an incremental run that pulls everything the first time (no watermark yet) and saves the `_since`
 * watermark; a second trigger pulls only what changed since (nothing: the synthetic FHIR server's data is older)
 * and moves the watermark forward.
 */
const institution = 'riverside-general';
let world: IngestWorld;
let workers: RunningWorkers;
let client: Client;
let deps: ReturnType<typeof worldDeps>;
const scheduleId = `it-sched-${process.pid}-${crypto.randomBytes(2).toString('hex')}`;
const firings: { progress: IngestRunProgress; watermark?: string }[] = [];

async function watermark(): Promise<string | undefined> {
  const key = `watermarks/${institution}/ehr`;
  return (await deps.store.has(key)) ? (await getJson<{ since: string }>(deps.store, key)).since : undefined;
}

/** Trigger the schedule once and wait for the run it starts. */
async function fireOnce(): Promise<void> {
  const handle = client.schedule.getHandle(scheduleId);
  const before = (await handle.describe()).info.recentActions.length;
  await handle.trigger();
  let workflowId: string | undefined;
  for (let i = 0; i < 120 && !workflowId; i++) {
    const actions = (await handle.describe()).info.recentActions;
    if (actions.length > before) workflowId = actions[actions.length - 1].action.workflow.workflowId;
    else await new Promise((r) => setTimeout(r, 500));
  }
  if (!workflowId) throw new Error('the schedule did not start a run within 60 s');
  const progress = (await client.workflow.getHandle(workflowId).result()) as IngestRunProgress;
  firings.push({ progress, watermark: await watermark() });
}

beforeAll(async () => {
  world = await createIngestWorld('sched', { patients: 2, institutions: [institution] });
  deps = worldDeps(world);
  workers = await startIngestWorkers({ config: world.config, queueNames: world.queues, deps });
  client = await createTemporalClient(world.config);
  await createIngestSchedule(client, {
    id: scheduleId,
    endpoint: world.server.url,
    every: '1d',
    institutions: [institution],
    sources: ['ehr'],
    route: false,
    taskQueue: world.queues.ingest,
    imagingQueue: world.queues.imaging,
  });
  await fireOnce();
  await fireOnce();
}, 600_000);

afterAll(async () => {
  await client?.schedule
    .getHandle(scheduleId)
    .delete()
    .catch(() => undefined);
  await workers?.shutdown();
  await client?.connection.close();
  await world?.cleanup();
});

describe('ingest schedule', () => {
  it('creates a Temporal Schedule of incremental ingestAllWorkflow runs on its own task queue', async () => {
    const d = await client.schedule.getHandle(scheduleId).describe();
    expect(d.action.type).toBe('startWorkflow');
    expect(d.action.workflowType).toBe('ingestAllWorkflow');
    expect(d.action.taskQueue).toBe(world.queues.ingest);
    expect(d.spec.intervals?.[0]?.every).toBe(86_400_000);
    expect(d.info.recentActions).toHaveLength(2);
  });

  it('pulls everything on the first firing, then only what changed since the watermark, which advances', () => {
    const [first, second] = firings;
    const expected = world.truth.expected.find((e) => e.institution === institution && e.source === 'ehr')!;
    for (const f of firings) {
      expect(f.progress.runId).toMatch(new RegExp(`^${scheduleId}-`));
      expect(f.progress.sources.map((s) => s.status)).toEqual(['completed']);
    }
    expect(first.progress.runId).not.toBe(second.progress.runId);
    const c1 = first.progress.sources[0].counts!;
    expect(c1.in).toBe(expected.records);
    expect(c1.in).toBe(c1.published + c1.quarantined + c1.rejected);
    // Nothing on the server changed after the first firing's start: the incremental pull finds nothing.
    expect(second.progress.sources[0].counts!.in).toBe(0);
    expect(first.watermark).toBeDefined();
    expect(second.watermark).toBeDefined();
    expect(Date.parse(second.watermark!)).toBeGreaterThan(Date.parse(first.watermark!));
  });
});
