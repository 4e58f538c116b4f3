import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, type Connection } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { expect } from 'vitest';
import { createIngestDeps } from '../../activities/runtime';
import { startIngestRun, waitForRun, type StartRunOptions } from '../../cli/commands/ingest';
import { startIngestWorkers, type RunningWorkers } from '../../cli/commands/worker';
import { loadConfig, type Config } from '../../platform/config';
import { loadInstitutionRegistry } from '../../platform/institutions';
import { createPayloadCodec, createTemporalClient } from '../../platform/temporal';
import type { FhirResource } from '../../mappers/types';
import type { GroundTruth } from '../../schemas/ground-truth';
import type { IngestRunProgress } from '../../schemas/ingest';
import { generateSynth } from '../../synth/generate';
import { startSynthServer, type SynthServer } from '../../synth/serve';
import { dropSchema } from './pg-support';

/**
 * A folder served as institutions by `synth serve` (`<dir>/institutions.json`, `<dir>/<institution>/<source>/...`),
 * with a data folder and keys of its own, and task queues of its own on the shared Temporal server.
 */
export interface ServedWorld {
  dir: string;
  server: SynthServer;
  config: Config;
  env: NodeJS.ProcessEnv;
  queues: { ingest: string; imaging: string };
  queueSchema: string;
  cleanup(): Promise<void>;
}

/** Shared set-up for the ingestion integration tests: a small synthetic world (18 institutions x 3 patients). */
export interface IngestWorld extends ServedWorld {
  synthDir: string;
  truth: GroundTruth;
}

export async function createIngestWorld(
  name: string,
  options: { patients?: number; institutions?: string[] } = {},
): Promise<IngestWorld> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ingest-${name}-`));
  const synthDir = path.join(dir, 'synth');
  const { groundTruth } = generateSynth({
    out: synthDir,
    seed: `ingest-${name}`,
    patients: options.patients ?? 3,
    institutions: options.institutions,
  });
  return { ...(await serveFolder(name, dir, synthDir)), synthDir, truth: groundTruth };
}

/**
 * Serve a folder laid out as synth's output; `dir` is removed by cleanup(). With `ownRegistry`, the workers and the
 * run read the folder's institutions.json as the registry (TRIBUTARY_INSTITUTIONS), else config/institutions.json.
 */
export async function serveFolder(
  name: string,
  dir: string,
  served: string,
  options: { ownRegistry?: boolean } = {},
): Promise<ServedWorld> {
  const server = await startSynthServer({ dir: served, port: 0 });
  // `p<pid>`, not a bare number: names reach workflow histories, whose scan would read a 5-digit pid as a postal code.
  const suffix = `${name}-p${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
  const queueSchema = `ingest_${suffix.replace(/-/g, '_')}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TRIBUTARY_DATA_DIR: path.join(dir, 'data'),
    TRIBUTARY_STAGING_KEY: crypto.randomBytes(32).toString('base64'),
    TRIBUTARY_DEID_KEY: crypto.randomBytes(32).toString('base64'),
  };
  if (options.ownRegistry) env.TRIBUTARY_INSTITUTIONS = path.join(served, 'institutions.json');
  return {
    dir,
    server,
    config: loadConfig({ env }),
    env,
    queues: { ingest: `it-ingest-${suffix}`, imaging: `it-imaging-${suffix}` },
    queueSchema,
    async cleanup() {
      await server.close();
      await dropSchema(queueSchema, env.DATABASE_URL);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function worldDeps(world: ServedWorld) {
  return createIngestDeps(world.config, { queueSchema: world.queueSchema });
}

/** A run over a world, with its workers (on the world's config, plus `env`), waited for to its end. */
export interface WorldRun {
  workers: RunningWorkers;
  client: Client;
  state: string;
  progress: IngestRunProgress;
  /** Shut the workers down and close the client (the world stays: cleanup() it after). */
  stop(): Promise<void>;
}

export async function runOnWorld(
  world: ServedWorld,
  run: Omit<StartRunOptions, 'endpoint' | 'taskQueue' | 'imagingQueue'> & { runId: string },
  options: { env?: NodeJS.ProcessEnv } = {},
): Promise<WorldRun> {
  const config = options.env ? loadConfig({ env: { ...world.env, ...options.env } }) : world.config;
  const workers = await startIngestWorkers({
    config,
    queueNames: world.queues,
    deps: createIngestDeps(config, { queueSchema: world.queueSchema }),
  });
  const client = await createTemporalClient(world.config);
  await startIngestRun(client, {
    ...run,
    registry: world.env.TRIBUTARY_INSTITUTIONS
      ? loadInstitutionRegistry(world.env.TRIBUTARY_INSTITUTIONS)
      : undefined,
    endpoint: world.server.url,
    taskQueue: world.queues.ingest,
    imagingQueue: world.queues.imaging,
  });
  const result = await waitForRun(client, run.runId, undefined, 1000);
  return {
    workers,
    client,
    state: result.state,
    progress: result.progress!,
    async stop() {
      await workers.shutdown();
      await client.connection.close();
    },
  };
}

/**
 * Every published FHIR resource of a run, as `<institution>.<source>:Type/id`, with how often each appears. Scoped
 * by institution and source: a person linked across institutions (same national ID) has the same pseudonymous
 * Patient id in each institution's output, by design.
 */
export function publishedResourceIds(outputDir: string): Map<string, number> {
  const ids = new Map<string, number>();
  const fhirDir = path.join(outputDir, 'fhir');
  if (!fs.existsSync(fhirDir)) return ids;
  for (const name of fs.readdirSync(fhirDir)) {
    const [, institution, source] = name.split('.');
    for (const line of fs.readFileSync(path.join(fhirDir, name), 'utf8').split('\n')) {
      if (!line) continue;
      const r = JSON.parse(line) as { resourceType: string; id: string };
      const key = `${institution}.${source}:${r.resourceType}/${r.id}`;
      ids.set(key, (ids.get(key) ?? 0) + 1);
    }
  }
  return ids;
}

/** Every published FHIR resource of a run by `Type/id` (a resource two sources published is one entry). */
export function publishedResources(outputDir: string): Map<string, FhirResource> {
  const fhirDir = path.join(outputDir, 'fhir');
  const published = new Map<string, FhirResource>();
  for (const f of fs.readdirSync(fhirDir))
    for (const line of fs.readFileSync(path.join(fhirDir, f), 'utf8').split('\n').filter(Boolean)) {
      const r = JSON.parse(line) as FhirResource;
      published.set(`${r.resourceType}/${r.id}`, r);
    }
  return published;
}

export function countDicomFiles(outputDir: string): number {
  const dicomDir = path.join(outputDir, 'dicom');
  if (!fs.existsSync(dicomDir)) return 0;
  return fs.readdirSync(dicomDir, { recursive: true }).filter((f) => String(f).endsWith('.dcm')).length;
}

/** Every workflow id of a run: the parent and one per institution and source. */
export function runWorkflowIds(runWorkflowId: string, progress: IngestRunProgress): string[] {
  return [runWorkflowId, ...progress.sources.map((s) => s.workflowId)];
}

/**
 * The histories of every run (continue-as-new chains included) of these workflows, fetched with a client that has
 * no codec, as JSON text, and the text of every payload once decrypted with the codec.
 */
export async function collectHistories(
  connection: Connection,
  config: Config,
  workflowIds: string[],
): Promise<{ raw: string; decoded: string; events: number }> {
  const rawClient = new Client({ connection, namespace: config.temporal.namespace });
  const codec = createPayloadCodec(config);
  const raws: string[] = [];
  const decoded: string[] = [];
  let events = 0;
  for (const id of workflowIds) {
    let runId: string | undefined;
    for (;;) {
      const history = await rawClient.workflow.getHandle(id, runId).fetchHistory();
      events += history.events?.length ?? 0;
      // Codec off: payload data is ciphertext (scanned below once decrypted); everything else is read as text.
      raws.push(JSON.stringify(history, rawHistoryValue));
      for (const payload of findPayloads(history)) {
        const [plain] = await codec.decode([payload]);
        decoded.push(Buffer.from(plain.data ?? new Uint8Array()).toString('utf8'));
      }
      const previous = history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
      if (!previous) break;
      runId = previous;
    }
  }
  return { raw: raws.join('\n'), decoded: decoded.join('\n'), events };
}

/**
 * A history value as the raw scan reads it. Temporal's own bookkeeping is left out: numbers (event and task ids,
 * sizes such as historySizeBytes, times, attempts) and the SDK's worker identity (`<pid>@<host>`, which also starts
 * sticky task queue names). A 5-digit one reads like a planted postal code to findPlanted (CI failed once on such a
 * coincidence). No text the pipeline writes into a history is a bare number, and every payload is scanned in full
 * once decrypted.
 */
function rawHistoryValue(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return asText(value);
  if (typeof value === 'number' || (typeof value === 'string' && /^\d+$/.test(value))) return '#';
  // The SDK's identity, and the sticky task queue named after it.
  if (typeof value === 'string' && /^\d+@/.test(value)) return '#';
  return value;
}

/**
 * Binary fields as text when they are printable (metadata: encodings, key ids); ciphertext and other bytes as a
 * placeholder without their length (a number, see above).
 */
function asText(bytes: Uint8Array): string {
  return bytes.every((b) => b >= 0x20 && b < 0x7f) ? Buffer.from(bytes).toString('latin1') : '<binary>';
}

function findPayloads(node: unknown, out: Payload[] = []): Payload[] {
  if (!node || typeof node !== 'object') return out;
  if (Array.isArray(node)) {
    for (const n of node) findPayloads(n, out);
    return out;
  }
  const o = node as Record<string, unknown>;
  if (o.metadata && typeof o.metadata === 'object' && o.data instanceof Uint8Array) {
    out.push(o as Payload);
    return out;
  }
  for (const v of Object.values(o)) findPayloads(v, out);
  return out;
}

/**
 * Each source of a run against the ground truth: completed, records in as the generator counted them,
 * in = published + quarantined + rejected, every planted malformed record kept out of the published outputs, and no
 * page quarantined whole.
 */
export function expectSourcesMatchTruth(
  progress: IngestRunProgress,
  truth: GroundTruth,
  label?: string,
): void {
  for (const s of progress.sources) {
    const expected = truth.expected.find((e) => e.institution === s.institution && e.source === s.source)!;
    const c = s.counts!;
    const where = `${label ? `${label} ` : ''}${s.institution}/${s.source}`;
    expect(s.status, where).toBe('completed');
    expect(c.in, `${where} records in`).toBe(expected.records);
    expect(c.in, `${where} balance`).toBe(c.published + c.quarantined + c.rejected);
    expect(c.rejected + c.quarantined, `${where} malformed`).toBeGreaterThanOrEqual(expected.malformed);
    expect(c.pagesQuarantined, where).toBe(0);
  }
}

type Coding = { system?: string; code?: string };
const byCode = (a: Coding, b: Coding) => `${a.system}|${a.code}`.localeCompare(`${b.system}|${b.code}`);

/**
 * A resource as a FHIR server stores it, less what the server adds (a version, a time, its request's source) and
 * with its security labels in one order: HAPI keeps them as a set.
 */
function comparableStored(r: Record<string, unknown>): Record<string, unknown> {
  const { versionId: _v, lastUpdated: _l, source: _s, ...meta } = (r.meta ?? {}) as Record<string, unknown>;
  if (Array.isArray(meta.security)) meta.security = [...(meta.security as Coding[])].sort(byCode);
  const out = { ...r };
  if (Object.keys(meta).length) out.meta = meta;
  else delete out.meta;
  return out;
}

/**
 * Every published resource (`Type/id` -> resource) is on the FHIR server as published. HAPI's parser drops what R4
 * does not allow (an element it does not know, an empty string) with only a warning in its log, so equality says every
 * element of every resource is valid R4.
 */
export async function expectStoredAsPublished(
  fhirUrl: string,
  published: ReadonlyMap<string, FhirResource>,
): Promise<void> {
  const keys = [...published.keys()];
  for (let i = 0; i < keys.length; i += 8) {
    await Promise.all(
      keys.slice(i, i + 8).map(async (key) => {
        const res = await fetch(`${fhirUrl}/${key}`, { headers: { accept: 'application/fhir+json' } });
        expect(res.status, key).toBe(200);
        const stored = (await res.json()) as Record<string, unknown>;
        expect(comparableStored(stored), key).toEqual(comparableStored(published.get(key)!));
      }),
    );
  }
}
