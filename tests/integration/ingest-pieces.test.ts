import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatReconciliation } from '../../cli/commands/ingest';
import type { IngestRunProgress } from '../../schemas/ingest';
import {
  createIngestWorld,
  expectSourcesMatchTruth,
  runOnWorld,
  type IngestWorld,
  type WorldRun,
} from './ingest-support';

/**
 * Files larger than a page, through a real run: with TRIBUTARY_PAGE_MB at 1 KB, a HIS CSV dump (bj-union-east), an
 * HL7 v2 feed and Apple Health exports (hz-zheyi-bay) go in pieces of whole records, each staged, mapped and
 * published as a page of its own. The reconciliation must still match the generator's ground truth exactly: no record
 * lost or counted twice at a piece boundary. One message of the HL7 feed is removed before the run, as if lost on
 * the way: the run must count one record fewer and say that the feed's batch trailer counts more than arrived.
 */
const institutions = ['bj-union-east', 'hz-zheyi-bay'];
let world: IngestWorld;
let run: WorldRun | undefined;
let progress: IngestRunProgress;
let state: string;

beforeAll(async () => {
  world = await createIngestWorld('pieces', { patients: 3, institutions });
  // A message lost on the way from the hospital: the feed's batch trailer still counts it.
  const feed = path.join(world.synthDir, 'hz-zheyi-bay', 'ehr', 'hl7v2', 'feed-001.hl7');
  const messages = fs.readFileSync(feed, 'utf8').split(/(?=\rMSH\|)/);
  fs.writeFileSync(feed, [...messages.slice(0, 5), ...messages.slice(6)].join(''));
  run = await runOnWorld(
    world,
    { runId: `it-pieces-${process.pid}`, institutions, sources: ['ehr', 'wearable'], route: false },
    { env: { TRIBUTARY_PAGE_MB: String(1024 / 2 ** 20) } },
  );
  ({ state, progress } = run);
}, 600_000);

afterAll(async () => {
  await run?.stop();
  await world?.cleanup();
});

describe('an ingest run with files larger than a page', () => {
  it('takes them in pieces and reconciles with the ground truth', () => {
    expect(state).toBe('completed');
    const others = progress.sources.filter((s) => !(s.institution === 'hz-zheyi-bay' && s.source === 'ehr'));
    expectSourcesMatchTruth({ ...progress, sources: others }, world.truth);
    // The lost message: one record fewer than the hospital sent, and the run says why, though the trailer is pieces
    // away from its batch's header.
    const feed = progress.sources.find((s) => s.institution === 'hz-zheyi-bay' && s.source === 'ehr')!;
    const sent = world.truth.expected.find((e) => e.institution === 'hz-zheyi-bay' && e.source === 'ehr')!;
    expect(feed.counts!.in).toBe(sent.records - 1);
    expect(feed.counts!.in).toBe(feed.counts!.published + feed.counts!.quarantined + feed.counts!.rejected);
    expect(feed.counts!.sourceGaps).toBe(1);
    expect(others.every((s) => !s.counts!.sourceGaps)).toBe(true);
    expect(formatReconciliation(progress).text).toMatch(
      /hz-zheyi-bay\/ehr: 1 file\(s\) or batch\(es\) whose own count/,
    );
    // A page per file would make as many pages as files: the pieces make more.
    const filesIn = (institution: string, source: string) =>
      fs
        .readdirSync(path.join(world.synthDir, institution, source), { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile()).length;
    for (const [institution, source] of [
      ['bj-union-east', 'ehr'],
      ['hz-zheyi-bay', 'ehr'],
      ['hz-zheyi-bay', 'wearable'],
    ]) {
      const s = progress.sources.find((x) => x.institution === institution && x.source === source)!;
      expect(s.counts!.pages, `${institution}/${source}`).toBeGreaterThan(filesIn(institution, source));
    }
    // Each piece numbers its heart-rate windows apart: no two Observations published under one id.
    const fhirDir = path.join(progress.outputDir!, 'fhir');
    const observations = fs
      .readdirSync(fhirDir)
      .filter((f) => f.startsWith('Observation.hz-zheyi-bay.wearable.'))
      .flatMap((f) => fs.readFileSync(path.join(fhirDir, f), 'utf8').split('\n').filter(Boolean))
      .map((line) => (JSON.parse(line) as { id: string }).id);
    expect(observations.length).toBeGreaterThan(20);
    expect(new Set(observations).size).toBe(observations.length);
  });
});
