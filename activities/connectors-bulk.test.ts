import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TributaryError } from '../platform/errors';
import { loadInstitutionRegistry } from '../platform/institutions';
import { createConnectors, type FetchPageRequest } from './connectors';

/**
 * Bulk `$export` paging against a tiny in-process server: kick-off, a 202 poll honoured, Patient file first, files
 * read pageSize lines at a time, resumable from any cursor, and a failing status URL retryable.
 */
const files: Record<string, string[]> = {
  Observation: ['o1', 'o2', 'o3'].map((id) => JSON.stringify({ resourceType: 'Observation', id })),
  Patient: ['p1', 'p2'].map((id) => JSON.stringify({ resourceType: 'Patient', id })),
};
let server: http.Server;
let base: string;
let statusFails = 0;
const log: string[] = [];

beforeAll(async () => {
  let polls = 0;
  server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    log.push(url.split('?')[0]);
    if (url.startsWith('/inst/fhir/$export?')) {
      if (req.headers.prefer !== 'respond-async') return res.writeHead(400).end();
      return res.writeHead(202, { 'content-location': `${base}/inst/fhir/status/1` }).end();
    }
    if (url === '/inst/fhir/status/1') {
      if (statusFails > 0) return (statusFails--, res.writeHead(503, { 'retry-after': '2' }).end());
      if (polls++ === 0) return res.writeHead(202, { 'retry-after': '0', 'x-progress': '50%' }).end();
      const output = Object.keys(files).map((type) => ({
        type,
        url: `${base}/inst/fhir/files/${type}.ndjson`,
        count: files[type].length,
      }));
      return res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ transactionTime: '2024-01-01T00:00:00Z', output, error: [] }));
    }
    const m = /^\/inst\/fhir\/files\/(\w+)\.ndjson$/.exec(url);
    if (m && files[m[1]])
      return res
        .writeHead(200, { 'content-type': 'application/fhir+ndjson' })
        .end(files[m[1]].join('\n') + '\n');
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(() => {
  server?.close();
});

function request(cursor?: string): FetchPageRequest {
  const fhirInst = loadInstitutionRegistry().institutions.find((i) => i.ehr.format === 'fhir-api')!;
  return { endpoint: base, institution: { ...fhirInst, id: 'inst' }, source: 'ehr', cursor, pageSize: 2 };
}

describe('FHIR connector, bulk mode', () => {
  it('pages Patient first, pageSize lines at a time, and resumes from any cursor', async () => {
    const connectors = createConnectors({ ratePerSecond: 1000, fhirMode: 'bulk' });
    const pages: { file: string; ids: string[]; cursor?: string }[] = [];
    let cursor: string | undefined;
    do {
      const page = await connectors.fetchPage(request(cursor));
      expect(page.format).toBe('fhir');
      const ids = page.parts[0].bytes
        .toString('utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { id: string }).id);
      pages.push({ file: page.sourceFile, ids, cursor: page.nextCursor });
      cursor = page.nextCursor;
    } while (cursor);
    expect(pages.map((p) => [p.file, p.ids])).toEqual([
      ['Patient.ndjson', ['p1', 'p2']],
      ['Observation.ndjson', ['o1', 'o2']],
      ['Observation.ndjson', ['o3']],
    ]);
    expect(log.filter((u) => u === '/inst/fhir/$export')).toHaveLength(1);
    // A cursor holds the status link and positions only, and a fresh connector resumes from it without a kick-off.
    expect(Object.keys(JSON.parse(pages[1].cursor!) as object).sort()).toEqual(['f', 'l', 'status']);
    const resumed = await createConnectors({ ratePerSecond: 1000, fhirMode: 'bulk' }).fetchPage(
      request(pages[1].cursor),
    );
    expect(resumed.parts[0].bytes.toString('utf8')).toBe(files.Observation[2] + '\n');
    expect(log.filter((u) => u === '/inst/fhir/$export')).toHaveLength(1);
  });

  it('turns a 503 from the status URL into a retryable error with its Retry-After', async () => {
    statusFails = 1;
    const cursor = JSON.stringify({ status: `${base}/inst/fhir/status/1`, f: 0, l: 0 });
    const err = await createConnectors({ ratePerSecond: 1000, fhirMode: 'bulk' })
      .fetchPage(request(cursor))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TributaryError);
    expect((err as TributaryError).nonRetryable).toBeFalsy();
    expect((err as TributaryError & { retryAfterMs?: number }).retryAfterMs).toBe(2000);
  });

  it('refuses an unknown mode', () => {
    expect(() => createConnectors({ fhirMode: 'graphql' as never })).toThrow(/fhirMode/);
  });
});
