import http from 'node:http';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIngestDeps } from '../../activities/runtime';
import { startIngestRun, waitForRun } from '../../cli/commands/ingest';
import { startIngestWorkers, type RunningWorkers } from '../../cli/commands/worker';
import { createTemporalClient } from '../../platform/temporal';
import type { IngestRunProgress } from '../../schemas/ingest';
import {
  createIngestWorld,
  expectSourcesMatchTruth,
  publishedResourceIds,
  type IngestWorld,
} from './ingest-support';

/**
 * FHIR-API institutions ingested through Bulk Data `$export` (kick-off, polling, NDJSON files) instead of search
 * paging: the same data must reconcile with the ground truth and with a search-mode run, record for record. The
 * bulk run goes through a counting proxy to prove it never searched.
 */
const institutions = ['riverside-general', 'gz-zhongshan-1'];
let world: IngestWorld;
let client: Client;
let proxy: http.Server;
let proxyUrl: string;
const seen = { kickOffs: 0, searches: 0, files: 0 };
const workers: RunningWorkers[] = [];
const runs: Record<'search' | 'bulk', { state: string; progress: IngestRunProgress }> = {} as never;

beforeAll(async () => {
  world = await createIngestWorld('bulk', { patients: 2, institutions });
  proxy = http.createServer((req, res) => {
    void (async () => {
      const url = req.url ?? '/';
      if (/\/fhir\/\$export(\?|$)/.test(url)) seen.kickOffs++;
      else if (/\/fhir\/[A-Z][A-Za-z]+(\?|$)/.test(url)) seen.searches++;
      else if (url.includes('/fhir/bulk-files/')) seen.files++;
      const headers: Record<string, string> = {};
      for (const h of ['prefer', 'accept'])
        if (typeof req.headers[h] === 'string') headers[h] = req.headers[h];
      const upstream = await fetch(world.server.url + url, { headers });
      let body = Buffer.from(await upstream.arrayBuffer());
      // Status and file links name the origin: point them at this proxy so every request passes here.
      if ((upstream.headers.get('content-type') ?? '').includes('json'))
        body = Buffer.from(body.toString('utf8').replaceAll(world.server.url, proxyUrl));
      const out: Record<string, string> = {};
      for (const h of ['content-type', 'retry-after', 'x-progress', 'content-location']) {
        const v = upstream.headers.get(h);
        if (v) out[h] = v.replaceAll(world.server.url, proxyUrl);
      }
      res.writeHead(upstream.status, out);
      res.end(body);
    })().catch(() => {
      res.writeHead(502);
      res.end();
    });
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
  client = await createTemporalClient(world.config);
  for (const mode of ['search', 'bulk'] as const) {
    const queueNames = {
      ingest: `${world.queues.ingest}-${mode}`,
      imaging: `${world.queues.imaging}-${mode}`,
    };
    const deps = createIngestDeps(world.config, { queueSchema: world.queueSchema, fhirMode: mode });
    workers.push(await startIngestWorkers({ config: world.config, queueNames, deps }));
  }
  await Promise.all(
    (['search', 'bulk'] as const).map(async (mode) => {
      const runId = `it-bulk-${mode}-${process.pid}`;
      await startIngestRun(client, {
        endpoint: mode === 'bulk' ? proxyUrl : world.server.url,
        runId,
        institutions,
        sources: ['ehr'],
        // Small pages: bulk NDJSON files are read in several chunks each.
        pageSize: 4,
        taskQueue: `${world.queues.ingest}-${mode}`,
        imagingQueue: `${world.queues.imaging}-${mode}`,
      });
      const result = await waitForRun(client, runId, undefined, 1000);
      runs[mode] = { state: result.state, progress: result.progress! };
    }),
  );
}, 600_000);

afterAll(async () => {
  for (const w of workers) await w.shutdown();
  await client?.connection.close();
  proxy?.close();
  await world?.cleanup();
});

describe('ingest of FHIR-API institutions through Bulk Data $export', () => {
  it('exports once per institution and never searches', () => {
    expect(runs.bulk.state).toBe('completed');
    expect(seen.kickOffs).toBe(institutions.length);
    expect(seen.searches).toBe(0);
    expect(seen.files).toBeGreaterThan(institutions.length);
  });

  it('reconciles with the ground truth exactly as search mode does', () => {
    expect(runs.search.state).toBe('completed');
    for (const mode of ['search', 'bulk'] as const) {
      const { progress } = runs[mode];
      expect(progress.sources.map((s) => s.institution).sort(), mode).toEqual([...institutions].sort());
      expectSourcesMatchTruth(progress, world.truth, mode);
    }
    const countsOf = (mode: 'search' | 'bulk') =>
      Object.fromEntries(
        runs[mode].progress.sources.map((s) => [
          s.institution,
          { ...s.counts!, pages: 0, pagesQuarantined: 0 },
        ]),
      );
    expect(countsOf('bulk')).toEqual(countsOf('search'));
    const published = (mode: 'search' | 'bulk') =>
      [...publishedResourceIds(runs[mode].progress.outputDir!).keys()].sort();
    expect(published('bulk')).toEqual(published('search'));
    expect(published('bulk').length).toBe(runs.bulk.progress.totals.resourcesPublished);
  });
});
