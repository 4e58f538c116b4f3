import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRunProgress, startIngestRun, waitForRun } from '../../cli/commands/ingest';
import { startIngestWorkers } from '../../cli/commands/worker';
import { createTemporalClient } from '../../platform/temporal';
import type { IngestRunProgress } from '../../schemas/ingest';
import { ingestRunWorkflowId } from '../../workflows/definitions';
import {
  countDicomFiles,
  createIngestWorld,
  publishedResourceIds,
  runWorkflowIds,
  worldDeps,
  type IngestWorld,
} from './ingest-support';

/**
 * Failures on the way in: an institution answering 500, a 429 storm, a corrupt file (through a fault-injecting
 * proxy in front of `synth serve`), and a worker killed with SIGKILL in the middle of a run. Each run must still
 * complete with exactly the expected outputs.
 */
const FLAKY = 'riverside-general'; // FHIR API: 500s
const THROTTLED = 'sh-ruijin-north'; // files: a 429 storm
const CORRUPT = 'wh-tongji-south'; // openFDA labels.json replaced by garbage
const institutions = [FLAKY, THROTTLED, CORRUPT];

let world: IngestWorld;
let proxy: http.Server;
let proxyUrl: string;
const faults = { errors500: 0, throttled: 0 };

beforeAll(async () => {
  world = await createIngestWorld('faults', { institutions });
  let fails = 4;
  let storm = 12;
  proxy = http.createServer(async (req, res) => {
    const url = req.url ?? '/';
    const inst = url.split('/')[1];
    if (inst === FLAKY && url.includes('/fhir/') && fails > 0) {
      fails--;
      faults.errors500++;
      res.writeHead(500, { 'content-type': 'application/fhir+json' });
      return res.end('{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"exception"}]}');
    }
    if (inst === THROTTLED && url.includes('/files/') && storm > 0) {
      storm--;
      faults.throttled++;
      res.writeHead(429, { 'retry-after': '1' });
      return res.end();
    }
    const upstream = await fetch(world.server.url + url);
    let body = Buffer.from(await upstream.arrayBuffer());
    // The file index and paging links name the origin: point them at this proxy so every request passes here.
    if ((upstream.headers.get('content-type') ?? '').includes('json'))
      body = Buffer.from(body.toString('utf8').replaceAll(world.server.url, proxyUrl));
    if (inst === CORRUPT && url.endsWith('/druglabel/openfda/labels.json'))
      body = Buffer.from('{"meta": {"results": tru\u0000\u0001 not json');
    res.writeHead(upstream.status, {
      'content-type': upstream.headers.get('content-type') ?? 'application/octet-stream',
    });
    res.end(body);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
});

afterAll(async () => {
  proxy?.close();
  await world?.cleanup();
});

function expectedOf(institution: string, source: string) {
  return world.truth.expected.find((e) => e.institution === institution && e.source === source)!;
}

describe('ingest under failures', () => {
  let client: Client;
  beforeAll(async () => {
    client = await createTemporalClient(world.config);
  });
  afterAll(async () => {
    await client?.connection.close();
  });

  it('retries 500s and a 429 storm, quarantines a corrupt file, and still completes', async () => {
    const workers = await startIngestWorkers({
      config: world.config,
      queueNames: world.queues,
      deps: worldDeps(world),
    });
    try {
      const runId = `it-faults-${process.pid}`;
      await startIngestRun(client, {
        endpoint: proxyUrl,
        runId,
        institutions,
        sources: ['ehr', 'druglabel'],
        taskQueue: world.queues.ingest,
        imagingQueue: world.queues.imaging,
      });
      const { state, progress } = await waitForRun(client, runId, undefined, 1000);
      expect(state).toBe('completed');
      expect(faults.errors500).toBeGreaterThan(0);
      expect(faults.throttled).toBeGreaterThan(0);
      for (const s of progress!.sources) {
        const c = s.counts!;
        const where = `${s.institution}/${s.source}`;
        expect(c.in, where).toBe(c.published + c.quarantined + c.rejected);
        if (s.institution === CORRUPT && s.source === 'druglabel') {
          // The file cannot be read at all: kept in quarantine whole, with its reason; nothing from it published.
          expect(c.pagesQuarantined + c.rejected, where).toBeGreaterThan(0);
          expect(c.published, where).toBe(0);
        } else {
          expect(c.in, where).toBe(expectedOf(s.institution, s.source).records);
          expect(c.pagesQuarantined, where).toBe(0);
        }
      }
    } finally {
      await workers.shutdown();
    }
  });

  it('finishes a run whose worker was killed with SIGKILL, with every output exactly once', async () => {
    const runId = `it-kill-${process.pid}`;
    // The workers' error log, read as it comes: an unread pipe fills (64 KiB) and then blocks the worker's writes,
    // and with them the worker. Kept to print should the run fail.
    const workerErrors: string[] = [];
    const spawnWorker = (): ChildProcess => {
      const child = spawn(
        process.execPath,
        [
          path.resolve('bin/tributary.mjs'),
          'worker',
          '--ingest-queue',
          world.queues.ingest,
          '--imaging-queue',
          world.queues.imaging,
        ],
        { env: { ...world.env, TRIBUTARY_LOG_LEVEL: 'error' }, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      child.stderr!.setEncoding('utf8').on('data', (text: string) => {
        workerErrors.push(text);
        if (workerErrors.length > 200) workerErrors.shift();
      });
      return child;
    };
    const exited = (child: ChildProcess) =>
      new Promise<void>((resolve) =>
        child.exitCode !== null ? resolve() : child.once('exit', () => resolve()),
      );
    let worker = spawnWorker();
    try {
      await startIngestRun(client, {
        endpoint: world.server.url,
        runId,
        institutions,
        taskQueue: world.queues.ingest,
        imagingQueue: world.queues.imaging,
      });
      // Kill in the middle: once some pages are in but the run is far from done.
      for (;;) {
        const snap = await getRunProgress(client, runId);
        const pages = snap.progress?.sources.reduce((n, s) => n + (s.counts?.pages ?? 0), 0) ?? 0;
        if (pages >= 8 || snap.state !== 'running') break;
        await new Promise((r) => setTimeout(r, 300));
      }
      expect((await getRunProgress(client, runId)).state).toBe('running');
      worker.kill('SIGKILL');
      await exited(worker);
      const killedAt = Date.now();
      worker = spawnWorker();
      const { state, progress } = await waitForRun(client, runId, undefined, 1000);
      // Where recovery spent its time (event types and gaps only: no payloads), so a slow run says why.
      console.info(
        `[kill recovery] completed ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill; ` +
          (await describeRecovery(client, runId, progress)),
      );
      if (state !== 'completed') console.info(`[kill recovery] worker errors:\n${workerErrors.join('')}`);
      expect(state).toBe('completed');
      for (const s of progress!.sources) {
        const c = s.counts!;
        const where = `${s.institution}/${s.source}`;
        expect(c.in, where).toBe(expectedOf(s.institution, s.source).records);
        expect(c.in, where).toBe(c.published + c.quarantined + c.rejected);
      }
      const ids = publishedResourceIds(progress!.outputDir!);
      expect([...ids].filter(([, n]) => n > 1)).toEqual([]);
      expect(ids.size).toBe(progress!.totals.resourcesPublished);
      expect(countDicomFiles(progress!.outputDir!)).toBe(progress!.totals.dicomPublished);
    } finally {
      worker.kill('SIGTERM');
      await exited(worker);
    }
  });
});

const EventType = proto.temporal.api.enums.v1.EventType;

/**
 * A run's recovery in numbers from its histories: timeouts by kind, failed activity attempts, and the longest
 * waits between two events of one workflow (which events, in which workflow). Event types and ids only.
 */
async function describeRecovery(
  client: Client,
  runId: string,
  progress: IngestRunProgress | undefined,
): Promise<string> {
  const ids = progress ? runWorkflowIds(ingestRunWorkflowId(runId), progress) : [ingestRunWorkflowId(runId)];
  const counts: Record<string, number> = {};
  const gaps: { ms: number; where: string }[] = [];
  for (const id of ids) {
    const history = await client.workflow.getHandle(id).fetchHistory();
    const events = history.events ?? [];
    for (const [i, e] of events.entries()) {
      const type = EventType[e.eventType ?? 0] ?? String(e.eventType);
      if (/TIMED_OUT|_FAILED$/.test(type)) counts[type] = (counts[type] ?? 0) + 1;
      if (i === 0) continue;
      const ms = eventTime(e) - eventTime(events[i - 1]);
      const before = EventType[events[i - 1].eventType ?? 0];
      gaps.push({ ms, where: `${id.split(':').slice(1, 3).join('/')} ${before} -> ${type}` });
    }
  }
  const longest = gaps
    .sort((a, b) => b.ms - a.ms)
    .slice(0, 3)
    .map((g) => `${(g.ms / 1000).toFixed(1)} s ${g.where.replace(/EVENT_TYPE_/g, '')}`);
  return `failures and timeouts ${JSON.stringify(counts)}; longest waits: ${longest.join('; ')}`;
}

function eventTime(e: { eventTime?: { seconds?: unknown; nanos?: number | null } | null }): number {
  return Number(e.eventTime?.seconds ?? 0) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;
}
