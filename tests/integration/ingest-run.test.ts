import fs from 'node:fs';
import path from 'node:path';
import type { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prunePreviews } from '../../activities/previews';
import { ingestPaths } from '../../activities/runtime';
import { openDb } from '../../annotation/db';
import { openQueueStore } from '../../annotation/store';
import { startIngestRun, waitForRun, formatReconciliation } from '../../cli/commands/ingest';
import { startIngestWorkers, type RunningWorkers } from '../../cli/commands/worker';
import { pseudonymOf } from '../../deid/key-service';
import type { FhirResource } from '../../mappers/types';
import { createTemporalClient } from '../../platform/temporal';
import type { IngestRunProgress } from '../../schemas/ingest';
import type { WorkItemContent } from '../../schemas/work-item';
import { ingestRunWorkflowId } from '../../workflows/definitions';
import {
  collectHistories,
  countDicomFiles,
  expectStoredAsPublished,
  createIngestWorld,
  expectSourcesMatchTruth,
  publishedResourceIds,
  publishedResources,
  runWorkflowIds,
  worldDeps,
  type IngestWorld,
} from './ingest-support';
import { findPlanted } from '../../synth/find-planted';

/**
 * A full run against the real Temporal server and `synth serve`: all 18 institutions, every source. The
 * reconciliation must match the generator's ground truth, every published output must appear once, and no workflow
 * history may hold a protected value, whether read raw (codec off) or with its payloads decrypted. Every output also
 * goes to the stack's HAPI FHIR server, which refuses a bundle whose references name nothing stored: the run
 * completing says every reference of every source resolves.
 */
let world: IngestWorld;
let workers: RunningWorkers;
let client: Client;
let progress: IngestRunProgress;
let state: string;
const runId = `it-full-p${process.pid}`;
const fhirUrl = process.env.FHIR_SERVER_URL!;
/** An old preview version no item refers to, as a corrected study leaves behind: the run removes it at its end. */
const stalePreview = { folder: 'old-inst/' + 'a'.repeat(24) + '/' + 'b'.repeat(16), bytes: 68 };

beforeAll(async () => {
  world = await createIngestWorld('full', { patients: 2 });
  workers = await startIngestWorkers({
    config: world.config,
    queueNames: world.queues,
    deps: worldDeps(world),
  });
  client = await createTemporalClient(world.config);
  const stale = path.join(ingestPaths(world.config).previews, stalePreview.folder);
  fs.mkdirSync(stale, { recursive: true });
  fs.writeFileSync(path.join(stale, '0.png'), Buffer.alloc(stalePreview.bytes));
  const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
  fs.utimesSync(path.join(stale, '0.png'), twoHoursAgo, twoHoursAgo);
  fs.utimesSync(stale, twoHoursAgo, twoHoursAgo);
  await startIngestRun(client, {
    endpoint: world.server.url,
    runId,
    taskQueue: world.queues.ingest,
    imagingQueue: world.queues.imaging,
    fhirServerUrl: fhirUrl,
  });
  const result = await waitForRun(client, runId, undefined, 1000);
  state = result.state;
  progress = result.progress!;
}, 900_000);

afterAll(async () => {
  await workers?.shutdown();
  await client?.connection.close();
  await world?.cleanup();
});

describe('ingest run over 18 synthetic institutions', () => {
  it('completes every institution and source, and in = published + quarantined + rejected matches the ground truth', () => {
    const table = formatReconciliation(progress, world.truth);
    expect(state, table.text).toBe('completed');
    expect(progress.sources).toHaveLength(world.truth.institutions.length * 5);
    expectSourcesMatchTruth(progress, world.truth);
    expect(table.balanced).toBe(true);
    expect(table.matchesTruth, table.text).toBe(true);
  });

  it('publishes each output exactly once, with a Bulk manifest that counts them', () => {
    const outputDir = progress.outputDir!;
    const ids = publishedResourceIds(outputDir);
    const duplicates = [...ids].filter(([, n]) => n > 1);
    expect(duplicates).toEqual([]);
    expect(ids.size).toBe(progress.totals.resourcesPublished);
    const manifest = JSON.parse(fs.readFileSync(path.join(outputDir, 'manifest.json'), 'utf8')) as {
      output: { count: number }[];
    };
    expect(manifest.output.reduce((n, o) => n + o.count, 0)).toBe(progress.totals.resourcesPublished);
    expect(countDicomFiles(outputDir)).toBe(progress.totals.dicomPublished);
    expect(progress.totals.dicomPublished).toBeGreaterThan(0);
    // The run takes each institution's EHR before its imaging: every instance found its patient.
    expect(progress.totals.imagesWithoutPatient).toBe(0);
    expect(progress.totals.workItems).toBeGreaterThan(0);
    const published = fs
      .readdirSync(path.join(outputDir, 'fhir'))
      .map((f) => fs.readFileSync(path.join(outputDir, 'fhir', f), 'utf8'))
      .join('\n');
    // Identifiers must be gone from every output. Dates, postal codes and ages are shifted or generalized, and a
    // shifted value can coincide with another person's real one: deid/ checks those per record.
    expect(
      findPlanted(published, world.truth, {
        skipTypes: ['date', 'birth-date', 'postal-code', 'age-over-89'],
      }),
    ).toEqual([]);
  });

  it("assesses the release's k-anonymity per institution over the Patients it published", () => {
    const outputDir = progress.outputDir!;
    const fhirDir = path.join(outputDir, 'fhir');
    const published = new Map<string, Set<string>>();
    const personsOf = new Map<string, Set<string>>();
    const patientIds = new Map<string, Set<string>>();
    for (const f of fs.readdirSync(fhirDir).filter((n) => n.startsWith('Patient.'))) {
      const institution = world.truth.institutions.find((i) => f.startsWith(`Patient.${i}.`))!;
      const ids = published.get(institution) ?? new Set<string>();
      for (const line of fs.readFileSync(path.join(fhirDir, f), 'utf8').split('\n').filter(Boolean)) {
        const p = JSON.parse(line) as FhirResource;
        ids.add(p.id as string);
        const person = pseudonymOf(p);
        expect(person, `a published Patient of ${institution} without its pseudonym`).toBeDefined();
        personsOf.set(person!, (personsOf.get(person!) ?? new Set()).add(institution));
        patientIds.set(p.id as string, (patientIds.get(p.id as string) ?? new Set()).add(institution));
      }
      published.set(institution, ids);
    }
    expect(published.size).toBeGreaterThan(0);
    expect(Object.keys(progress.risk ?? {}).sort()).toEqual([...published.keys()].sort());
    for (const [institution, ids] of published) {
      const r = progress.risk![institution];
      expect(r.records, institution).toBe(ids.size);
      expect(r.records).toBeLessThanOrEqual(world.truth.patientsPerInstitution);
      expect(r.k).toBeGreaterThanOrEqual(1);
      expect(r.k).toBeLessThanOrEqual(r.records);
      expect(r.recordsBelowThreshold).toBeLessThanOrEqual(r.records);
    }
    const written = JSON.parse(fs.readFileSync(path.join(outputDir, 'risk.json'), 'utf8')) as {
      institutions: Record<string, object>;
      linkedPersons?: number;
    };
    expect(written.institutions).toEqual(progress.risk);
    // People who attend two institutions (the generator's overlap): a Patient from each, linked by one pseudonym,
    // and no Patient id published by two institutions (a FHIR server would keep only the last written).
    const linked = [...personsOf.values()].filter((s) => s.size > 1).length;
    expect(linked).toBeGreaterThan(0);
    expect(written.linkedPersons).toBe(linked);
    expect(progress.linkedPersons).toBe(linked);
    expect([...patientIds].filter(([, s]) => s.size > 1).map(([id]) => id)).toEqual([]);
  });

  it('publishes every output to a FHIR server as it published it, every element valid R4', async () => {
    const published = publishedResources(progress.outputDir!);
    expect(published.size).toBe(progress.totals.resourcesPublished);
    await expectStoredAsPublished(fhirUrl, published);
  });

  it('publishes to a FHIR server every study with a subject that resolves there', async () => {
    const studies = [...publishedResources(progress.outputDir!).values()].filter(
      (r) => r.resourceType === 'ImagingStudy',
    );
    expect(studies.length).toBeGreaterThan(18);
    for (const study of studies) {
      const subject = (study.subject as { reference?: string }).reference;
      expect(subject, `ImagingStudy/${study.id}`).toMatch(/^Patient\/[0-9a-f]{16}$/);
      for (const key of [`ImagingStudy/${study.id}`, subject!]) {
        const res = await fetch(`${fhirUrl}/${key}`, { headers: { accept: 'application/fhir+json' } });
        expect(res.status, key).toBe(200);
        await res.body?.cancel();
      }
    }
  });

  it('keeps protected values out of every workflow history, raw and decrypted', async () => {
    const ids = runWorkflowIds(ingestRunWorkflowId(runId), progress);
    const histories = await collectHistories(client.connection as Connection, world.config, ids);
    expect(histories.events).toBeGreaterThan(ids.length * 5);
    expect(findPlanted(histories.raw, world.truth)).toEqual([]);
    expect(findPlanted(histories.decoded, world.truth)).toEqual([]);
    // The decrypted payloads are references: staging keys and counts, not records.
    expect(histories.decoded).toContain('"rawKey":"raw/');
  });

  it('puts chest CT and radiographs in the radiology queue with PNG previews, and renders none for studies no queue takes', async () => {
    const db = await openDb({ databaseUrl: world.config.database.url, schema: world.queueSchema });
    let studies: { content: WorkItemContent; queues: string[] }[];
    try {
      studies = await db.query(
        `SELECT i.content, coalesce(array_agg(qi.queue_id) FILTER (WHERE qi.queue_id IS NOT NULL), '{}') AS queues
         FROM items i LEFT JOIN queue_items qi ON qi.item_id = i.id
         WHERE i.resource_type = 'ImagingStudy' GROUP BY i.id, i.content`,
      );
    } finally {
      await db.close();
    }
    const radiology = studies.filter((s) => s.queues.includes('radiology-chest'));
    expect(radiology.length).toBeGreaterThan(0);
    expect(new Set(radiology.map((s) => s.content.modality))).toEqual(new Set(['CT', 'CR']));
    const root = ingestPaths(world.config).previews;
    for (const { content } of radiology) {
      expect(content.previews?.length, content.id).toBeGreaterThan(0);
      for (const p of content.previews!)
        expect(fs.readFileSync(path.join(root, p.ref)).subarray(0, 4).toString('latin1')).toBe('\x89PNG');
    }
    const unrouted = studies.filter((s) => s.queues.length === 0);
    expect(unrouted.length).toBeGreaterThan(0); // MR and ultrasound: no rule asks for them
    for (const { content } of unrouted) expect(content.previews, content.id).toBeUndefined();
    // The run pruned at its end: the planted old version went, every version it wrote stayed.
    expect(progress.previews).toEqual({
      kept: radiology.length,
      removed: 1,
      recent: 0,
      bytesRemoved: stalePreview.bytes,
    });
    expect(fs.existsSync(path.join(root, stalePreview.folder))).toBe(false);
    // Every preview folder written belongs to a stored item: pruning would remove nothing.
    const store = await openQueueStore({ databaseUrl: world.config.database.url, schema: world.queueSchema });
    try {
      expect(
        await prunePreviews({ root, referenced: await store.previewRefs(), graceMs: 0, dryRun: true }),
      ).toEqual({ kept: radiology.length, removed: 0, recent: 0, bytesRemoved: 0 });
    } finally {
      await store.close();
    }
  });
});
