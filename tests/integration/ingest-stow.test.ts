import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIngestRun, waitForRun } from '../../cli/commands/ingest';
import { startIngestWorkers, type RunningWorkers } from '../../cli/commands/worker';
import { readAscii } from '../../imaging/dicom-model';
import { readDicom } from '../../imaging/dicom-read';
import { createDicomWebClient, jsonValue, type DicomJson } from '../../imaging/dicomweb';
import { createTemporalClient } from '../../platform/temporal';
import type { IngestRunProgress } from '../../schemas/ingest';
import { createIngestWorld, worldDeps, type IngestWorld } from './ingest-support';
import { findPlanted } from '../../synth/find-planted';
import { removeStudiesFromOrthanc } from './orthanc-support';

/**
 * Publishing de-identified DICOM to a research PACS by STOW-RS (`--stow`), the real Orthanc standing in for it:
 * every published study is there under its de-identified StudyInstanceUID with all its instances, no original
 * study UID is, and nothing the PACS answers about those studies holds a planted identifier.
 */
const institutions = ['riverside-general', 'sh-ruijin-north'];
let world: IngestWorld;
let workers: RunningWorkers;
let client: Client;
let progress: IngestRunProgress;
let state: string;
let pacsUrl: string;
const runId = `it-stow-${process.pid}`;
/** De-identified StudyInstanceUID → instances published, read back from the run's output files. */
const published = new Map<string, number>();

beforeAll(async () => {
  world = await createIngestWorld('stow', { patients: 2, institutions });
  pacsUrl = `${world.config.orthanc.url.replace(/\/+$/, '')}/dicom-web`;
  workers = await startIngestWorkers({
    config: world.config,
    queueNames: world.queues,
    deps: worldDeps(world),
  });
  client = await createTemporalClient(world.config);
  await startIngestRun(client, {
    endpoint: world.server.url,
    runId,
    institutions,
    sources: ['imaging'],
    route: false,
    stowUrl: pacsUrl,
    taskQueue: world.queues.ingest,
    imagingQueue: world.queues.imaging,
  });
  const result = await waitForRun(client, runId, undefined, 1000);
  state = result.state;
  progress = result.progress!;
  const dir = path.join(progress.outputDir!, 'dicom');
  for (const f of fs
    .readdirSync(dir, { recursive: true })
    .map(String)
    .filter((x) => x.endsWith('.dcm'))) {
    const uid = readAscii(readDicom(fs.readFileSync(path.join(dir, f)), f).nodes, 'x0020000d')!;
    published.set(uid, (published.get(uid) ?? 0) + 1);
  }
}, 600_000);

afterAll(async () => {
  await workers?.shutdown();
  await client?.connection.close();
  // Take the published studies out of the shared Orthanc again.
  if (world) await removeStudiesFromOrthanc(world.config.orthanc.url, published.keys());
  await world?.cleanup();
});

describe('publish to a research PACS by STOW-RS', () => {
  it('stores every published study under its de-identified UID, with all its instances', async () => {
    expect(state).toBe('completed');
    expect(progress.totals.dicomPublished).toBeGreaterThan(0);
    expect([...published.values()].reduce((a, b) => a + b, 0)).toBe(progress.totals.dicomPublished);
    const pacs = createDicomWebClient(pacsUrl);
    for (const [uid, instances] of published) {
      const found = await pacs.searchStudies({ StudyInstanceUID: uid, includefield: '00201208' });
      expect(found).toHaveLength(1);
      expect(Number(jsonValue(found[0], '00201208'))).toBe(instances);
    }
  });

  it('holds none of the original study UIDs and no planted identifier in what it answers', async () => {
    const originals = [
      ...new Set(
        world.truth.planted.filter((p) => p.type === 'uid' && p.path === '(0020,000D)').map((p) => p.value),
      ),
    ];
    expect(originals.length).toBeGreaterThan(0);
    const pacs = createDicomWebClient(pacsUrl);
    for (const uid of originals) {
      expect(published.has(uid)).toBe(false);
      expect(await pacs.searchStudies({ StudyInstanceUID: uid })).toEqual([]);
    }
    const answers: DicomJson[] = [];
    for (const uid of published.keys()) {
      answers.push(...(await pacs.searchStudies({ StudyInstanceUID: uid, includefield: 'all' })));
      answers.push(...(await pacs.searchInstances(uid, { includefield: 'all' })));
    }
    // Dates are shifted and may coincide with another person's real one (deid/ checks those per record).
    expect(
      findPlanted(JSON.stringify(answers), world.truth, {
        skipTypes: ['date', 'birth-date', 'postal-code', 'age-over-89'],
      }),
    ).toEqual([]);
  });
});
