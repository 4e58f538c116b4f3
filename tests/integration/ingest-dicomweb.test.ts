import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIngestDeps } from '../../activities/runtime';
import { formatReconciliation, startIngestRun, waitForRun } from '../../cli/commands/ingest';
import { startIngestWorkers, type RunningWorkers } from '../../cli/commands/worker';
import { createTemporalClient } from '../../platform/temporal';
import type { IngestRunProgress } from '../../schemas/ingest';
import { uploadStudiesToOrthanc } from '../../synth/orthanc-upload';
import { startSynthServer, type SynthServer } from '../../synth/serve';
import { ingestRunWorkflowId } from '../../workflows/definitions';
import {
  collectHistories,
  createIngestWorld,
  expectSourcesMatchTruth,
  publishedResourceIds,
  runWorkflowIds,
  type IngestWorld,
} from './ingest-support';
import { findPlanted } from '../../synth/find-planted';
import { removeStudiesFromOrthanc } from './orthanc-support';

/**
 * Imaging pulled from the real Orthanc by DICOMweb (QIDO-RS, WADO-RS) through synth serve's per-institution PACS
 * roots, against the real Temporal server: it must reconcile with the ground truth and publish exactly what a
 * file-drop run of the same institutions publishes, pull no file drops, and keep every protected value (study
 * UIDs included) out of the workflow histories.
 */
const institutions = ['riverside-general', 'bj-union-east', 'lakeview-medical'];
type Mode = 'files' | 'dicomweb';
let world: IngestWorld;
let pacs: SynthServer;
let client: Client;
let proxy: http.Server;
let proxyUrl: string;
let uploaded: number;
const seen = { studySearches: 0, instanceSearches: 0, retrieves: 0, fileDrops: 0 };
const workers: RunningWorkers[] = [];
const runs = {} as Record<Mode, { runId: string; state: string; progress: IngestRunProgress }>;

beforeAll(async () => {
  world = await createIngestWorld('dicomweb', { patients: 2, institutions });
  const orthancUrl = world.config.orthanc.url;
  // Stale copies of these studies (an earlier run with other parameters) would make Orthanc's WADO-RS answer 404.
  await removeStudiesFromOrthanc(orthancUrl, studyUids());
  uploaded = (await uploadStudiesToOrthanc({ dir: world.synthDir, orthancUrl, institutions })).instances;
  pacs = await startSynthServer({ dir: world.synthDir, port: 0, orthancUrl });
  // Counts what the DICOMweb run asks for; file drops are refused, so a run that used them could not complete.
  proxy = http.createServer((req, res) => {
    void (async () => {
      const url = req.url ?? '/';
      const p = url.split('?')[0];
      if (p.includes('/files/')) {
        seen.fileDrops++;
        return res.writeHead(404).end();
      }
      if (/\/dicom-web\/studies$/.test(p)) seen.studySearches++;
      else if (/\/dicom-web\/studies\/[^/]+\/instances$/.test(p)) seen.instanceSearches++;
      else if (/\/instances\/[^/]+$/.test(p)) seen.retrieves++;
      const upstream = await fetch(pacs.url + url, {
        headers: { accept: String(req.headers.accept ?? '*/*') },
      });
      const out: Record<string, string> = {};
      for (const h of ['content-type', 'retry-after']) {
        const v = upstream.headers.get(h);
        if (v) out[h] = v;
      }
      res.writeHead(upstream.status, out).end(Buffer.from(await upstream.arrayBuffer()));
    })().catch(() => res.writeHead(502).end());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
  client = await createTemporalClient(world.config);
  for (const mode of ['files', 'dicomweb'] as const) {
    const queueNames = {
      ingest: `${world.queues.ingest}-${mode}`,
      imaging: `${world.queues.imaging}-${mode}`,
    };
    const deps = createIngestDeps(world.config, { queueSchema: world.queueSchema, imagingMode: mode });
    workers.push(await startIngestWorkers({ config: world.config, queueNames, deps }));
  }
  await Promise.all(
    (['files', 'dicomweb'] as const).map(async (mode) => {
      const runId = `it-dicomweb-${mode}-p${process.pid}-${crypto.randomBytes(2).toString('hex')}`;
      await startIngestRun(client, {
        endpoint: mode === 'dicomweb' ? proxyUrl : world.server.url,
        runId,
        institutions,
        sources: ['imaging'],
        route: false,
        taskQueue: `${world.queues.ingest}-${mode}`,
        imagingQueue: `${world.queues.imaging}-${mode}`,
      });
      const result = await waitForRun(client, runId, undefined, 1000);
      runs[mode] = { runId, state: result.state, progress: result.progress! };
    }),
  );
}, 600_000);

afterAll(async () => {
  for (const w of workers) await w.shutdown();
  await client?.connection.close();
  proxy?.close();
  await pacs?.close();
  if (world) await removeStudiesFromOrthanc(world.config.orthanc.url, studyUids());
  await world?.cleanup();
});

/** This world's StudyInstanceUIDs (ground truth). */
function studyUids(): string[] {
  return [
    ...new Set(
      world.truth.planted.filter((p) => p.type === 'uid' && p.path === '(0020,000D)').map((p) => p.value),
    ),
  ];
}

/** Published DICOM files of a run: relative path → sha256. */
function dicomOutputs(outputDir: string): Record<string, string> {
  const dir = path.join(outputDir, 'dicom');
  const out: Record<string, string> = {};
  for (const f of fs
    .readdirSync(dir, { recursive: true })
    .map(String)
    .filter((x) => x.endsWith('.dcm'))) {
    out[f] = crypto
      .createHash('sha256')
      .update(fs.readFileSync(path.join(dir, f)))
      .digest('hex');
  }
  return out;
}

describe('imaging ingest by DICOMweb from the real Orthanc', () => {
  it('pulls every study by QIDO and every instance by WADO, and no file drop', () => {
    expect(runs.dicomweb.state).toBe('completed');
    const expected = world.truth.expected
      .filter((e) => e.source === 'imaging')
      .reduce((n, e) => n + e.records, 0);
    expect(uploaded).toBe(expected);
    expect(seen.fileDrops).toBe(0);
    expect(seen.retrieves).toBeGreaterThanOrEqual(expected);
    expect(seen.studySearches).toBeGreaterThanOrEqual(institutions.length);
    expect(seen.instanceSearches).toBeGreaterThan(0);
  });

  it('answers each institution for its own studies only', async () => {
    const [own, other] = institutions;
    const uid = world.truth.planted.find(
      (p) => p.type === 'uid' && p.path === '(0020,000D)' && p.institution === own,
    )!.value;
    expect((await fetch(`${pacs.url}/${own}/dicom-web/studies/${uid}/instances`)).status).toBe(200);
    expect((await fetch(`${pacs.url}/${other}/dicom-web/studies/${uid}/instances`)).status).toBe(404);
    const listed = (await (await fetch(`${pacs.url}/${other}/dicom-web/studies`)).json()) as Record<
      string,
      { Value?: string[] }
    >[];
    expect(listed.length).toBeGreaterThan(0);
    expect(listed.map((s) => s['0020000D']?.Value?.[0])).not.toContain(uid);
  });

  it('reconciles with the ground truth and publishes exactly what the file-drop run publishes', () => {
    expect(runs.files.state).toBe('completed');
    for (const mode of ['files', 'dicomweb'] as const) {
      const { progress } = runs[mode];
      expect(progress.sources.map((s) => s.institution).sort(), mode).toEqual([...institutions].sort());
      expectSourcesMatchTruth(progress, world.truth, mode);
    }
    const countsOf = (mode: Mode) =>
      Object.fromEntries(runs[mode].progress.sources.map((s) => [s.institution, s.counts]));
    expect(countsOf('dicomweb')).toEqual(countsOf('files'));
    const fhir = (mode: Mode) => [...publishedResourceIds(runs[mode].progress.outputDir!).keys()].sort();
    expect(fhir('dicomweb')).toEqual(fhir('files'));
    expect(fhir('dicomweb').length).toBeGreaterThan(0);
    const dicom = dicomOutputs(runs.dicomweb.progress.outputDir!);
    expect(Object.keys(dicom)).toHaveLength(runs.dicomweb.progress.totals.dicomPublished);
    expect(runs.dicomweb.progress.totals.dicomPublished).toBeGreaterThan(0);
    expect(dicom).toEqual(dicomOutputs(runs.files.progress.outputDir!));
    // Imaging alone, no EHR before it: every instance is linked by its DICOM Patient ID, and the run says so.
    expect(runs.dicomweb.progress.totals.imagesWithoutPatient).toBe(
      runs.dicomweb.progress.totals.dicomPublished,
    );
    expect(formatReconciliation(runs.dicomweb.progress).text).toMatch(
      /imaging: \d+ DICOM instance\(s\) arrived before any EHR record of their patient/,
    );
  });

  it('keeps protected values, study UIDs included, out of every workflow history', async () => {
    const ids = runWorkflowIds(ingestRunWorkflowId(runs.dicomweb.runId), runs.dicomweb.progress);
    const histories = await collectHistories(client.connection as Connection, world.config, ids);
    expect(histories.events).toBeGreaterThan(ids.length * 5);
    expect(findPlanted(histories.raw, world.truth)).toEqual([]);
    expect(findPlanted(histories.decoded, world.truth)).toEqual([]);
    for (const uid of studyUids())
      expect(histories.decoded.includes(uid) || histories.raw.includes(uid)).toBe(false);
    expect(histories.decoded).toContain('"rawKey":"raw/');
  });
});
