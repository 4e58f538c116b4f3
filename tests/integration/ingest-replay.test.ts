import fs from 'node:fs';
import path from 'node:path';
import proto from '@temporalio/proto';
import { Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { WORKFLOWS_PATH } from '../../cli/commands/worker';
import { loadConfig } from '../../platform/config';
import { recordIngestHistories, type RecordedHistories } from './fixtures/record-ingest-histories';

/**
 * Workflow code changes must replay the histories of runs in flight. The v1 fixture was recorded before a page's
 * steps and the watermark became local activities (every step a normal activity); the current code must replay it
 * command for command (patched('page-steps-local'), patched('watermark-local')), and replay its own histories too. The v2
 * fixture was recorded with the page steps local but the pull a normal activity (before patched('fetch-local')), the
 * v3 one with a study's de-identification and denoising as two imaging activities (before patched('imaging-one-task')),
 * the v4 one with each of a page's steps as its own local activity (before patched('page-steps-one-call')), the v5
 * one with each of those four changes recorded as its own patch (before patched('current-source-path')).
 * No data in these histories: test-double activities return keys and counts.
 */
const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
let bundle: WorkflowBundleWithSourceMap;

beforeAll(async () => {
  bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quiet });
});

async function replay(histories: RecordedHistories): Promise<{ workflowId: string; error?: Error }[]> {
  const out: { workflowId: string; error?: Error }[] = [];
  const results = Worker.runReplayHistories(
    { workflowBundle: bundle, replayName: 'ingest-replay' },
    Object.entries(histories).map(([workflowId, history]) => ({
      workflowId,
      history: proto.temporal.api.history.v1.History.fromObject(history as object),
    })),
  );
  for await (const r of results) out.push({ workflowId: r.workflowId, error: r.error });
  return out;
}

const eventsOf = (history: unknown) =>
  (
    history as {
      events: {
        eventType: string;
        activityTaskScheduledEventAttributes?: { activityType?: { name?: string } };
      }[];
    }
  ).events;
/** Activity types scheduled on the server, in order (local activities are markers, not in this list). */
const scheduledActivities = (history: unknown) =>
  eventsOf(history)
    .map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name)
    .filter(Boolean);
const readFixture = (name: string) =>
  JSON.parse(fs.readFileSync(path.join(import.meta.dirname, 'fixtures', name), 'utf8')) as RecordedHistories;
const historyOf = (histories: RecordedHistories, idPart: string) =>
  Object.entries(histories).find(([id]) => id.includes(idPart))![1];

/** Every history replays against the current workflow code without a nondeterminism error. */
async function expectReplays(histories: RecordedHistories, count?: number): Promise<void> {
  const results = await replay(histories);
  if (count !== undefined) expect(results).toHaveLength(count);
  expect(results.filter((r) => r.error).map((r) => `${r.workflowId}: ${r.error!.message}`)).toEqual([]);
}

describe('ingest workflow replay', () => {
  it('replays histories recorded before the page steps became local activities', async () => {
    const v1 = readFixture('ingest-histories-v1.json');
    // The fixture is what it claims to be: every step a scheduled activity, no local-activity markers.
    const scheduled = Object.values(v1).flatMap(scheduledActivities);
    expect(scheduled).toContain('verifyBatch');
    expect(scheduled).toContain('saveWatermark');
    expect(
      Object.values(v1)
        .flatMap(eventsOf)
        .some((e) => e.eventType === 'EVENT_TYPE_MARKER_RECORDED'),
    ).toBe(false);

    await expectReplays(v1, 3);
  });

  it('replays histories recorded while the pull was a normal activity (page steps already local)', async () => {
    const v2 = readFixture('ingest-histories-v2.json');
    // The fixture is what it claims to be: pulls scheduled on the server, page steps as local-activity markers.
    const child = historyOf(v2, ':druglabel:');
    expect(scheduledActivities(child)).toEqual(['fetchPage', 'fetchPage']);
    expect(eventsOf(child).some((e) => e.eventType === 'EVENT_TYPE_MARKER_RECORDED')).toBe(true);

    await expectReplays(v2, 3);
  });

  it('replays histories recorded while a study took two imaging activities (pull already local)', async () => {
    const v3 = readFixture('ingest-histories-v3.json');
    const imaging = historyOf(v3, ':imaging:');
    expect(scheduledActivities(imaging)).toEqual([
      'deidentifyImages',
      'denoiseImages',
      'deidentifyImages',
      'denoiseImages',
    ]);

    await expectReplays(v3, 3);
  });

  it('replays histories recorded while each page step was its own local activity', async () => {
    const v4 = readFixture('ingest-histories-v4.json');
    // The fixture is what it claims to be: no server-side activities for the file drop, a pull and five step markers a page.
    const child = historyOf(v4, ':druglabel:');
    expect(scheduledActivities(child)).toEqual([]);
    expect(eventsOf(child).filter((e) => e.eventType === 'EVENT_TYPE_MARKER_RECORDED')).toHaveLength(
      2 * (1 + 5) + 1 + 3,
    );

    await expectReplays(v4, 3);
  });

  it('replays histories recorded while each change was its own patch', async () => {
    const v5 = readFixture('ingest-histories-v5.json');
    // The fixture is what it claims to be: four patch markers and four upserts of TemporalChangeVersion per source.
    for (const part of [':druglabel:', ':imaging:']) {
      const events = eventsOf(historyOf(v5, part));
      expect(
        events.filter((e) => e.eventType === 'EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES'),
      ).toHaveLength(4);
    }
    expect(
      eventsOf(historyOf(v5, ':druglabel:')).filter((e) => e.eventType === 'EVENT_TYPE_MARKER_RECORDED'),
    ).toHaveLength(2 * (1 + 1) + 1 + 4);

    await expectReplays(v5, 3);
  });

  it('runs the pulls, the page steps and the watermark as local activities and replays that history', async () => {
    const { histories, progress } = await recordIngestHistories(loadConfig());
    expect(progress.totals).toMatchObject({ pages: 4, in: 6 + 4, published: 8, workItems: 4 });

    const child = historyOf(histories, ':druglabel:');
    // No server round trips for a file-drop source's pages at all now.
    expect(scheduledActivities(child)).toEqual([]);
    const markers = eventsOf(child).filter((e) => e.eventType === 'EVENT_TYPE_MARKER_RECORDED').length;
    // A pull and one local activity for the page's steps per page, the watermark, and one patch marker.
    expect(markers).toBe(2 * (1 + 1) + 1 + 1);
    // One upsert of TemporalChangeVersion per source, not one per change (a visibility write each on the server).
    for (const part of [':druglabel:', ':imaging:'])
      expect(
        eventsOf(historyOf(histories, part)).filter(
          (e) => e.eventType === 'EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES',
        ),
      ).toHaveLength(1);

    const imaging = historyOf(histories, ':imaging:');
    // Pixel work stays a normal activity on the imaging queue (it heartbeats per instance), one per study.
    expect(scheduledActivities(imaging)).toEqual(['cleanImages', 'cleanImages']);

    await expectReplays(histories);
  });
});
