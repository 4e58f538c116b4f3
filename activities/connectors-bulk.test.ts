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
/** A large output file, served as its own export (`/big/`): 2,000 lines, with blank lines, CRLF and Chinese text. */
const bigLines = Array.from({ length: 2000 }, (_, i) =>
  JSON.stringify({ resourceType: 'Observation', id: `b${i}`, note: [{ text: i % 7 ? '血压正常' : 'ok' }] }),
);
const bigFile = Buffer.from(
  bigLines
    .map((l, i) => (i % 100 === 0 ? `${l}\r\n\n` : `${l}\n`))
    .join('')
    .trimEnd(),
);
/** Whether the file server honours Range, and where each request for the big file asked to start. */
const big = { range: true, from: [] as number[], count: undefined as number | undefined };
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
    if (url.startsWith('/big/fhir/$export?'))
      return res.writeHead(202, { 'content-location': `${base}/big/fhir/status/1` }).end();
    if (url === '/big/fhir/status/1') {
      const output = [
        { type: 'Observation', url: `${base}/big/fhir/files/Observation.ndjson`, count: big.count },
      ];
      return res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ transactionTime: '2024-01-01T00:00:00Z', output, error: [] }));
    }
    if (url === '/big/fhir/files/Observation.ndjson') {
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const from = range ? Number(range[1]) : 0;
      big.from.push(from);
      if (!big.range) return res.writeHead(200, { 'content-type': 'application/fhir+ndjson' }).end(bigFile);
      if (from >= bigFile.length) return res.writeHead(416).end();
      return res.writeHead(206, { 'content-type': 'application/fhir+ndjson' }).end(bigFile.subarray(from));
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
  const fhirInst = loadInstitutionRegistry().institutions.find((i) => i.ehr?.format === 'fhir-api')!;
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
    expect(Object.keys(JSON.parse(pages[1].cursor!) as object).sort()).toEqual(['b', 'f', 'l', 'status']);
    const resumed = await createConnectors({ ratePerSecond: 1000, fhirMode: 'bulk' }).fetchPage(
      request(pages[1].cursor),
    );
    expect(resumed.parts[0].bytes.toString('utf8')).toBe(files.Observation[2] + '\n');
    expect(log.filter((u) => u === '/inst/fhir/$export')).toHaveLength(1);
  });

  it('reads a large file a page at a time from where the last page stopped, with or without Range', async () => {
    const inst = (cursor?: string): FetchPageRequest => ({
      ...request(cursor),
      institution: { ...request().institution, id: 'big' },
      pageSize: 250,
    });
    for (const range of [true, false]) {
      Object.assign(big, { range, from: [] });
      const connectors = createConnectors({ ratePerSecond: 1000, fhirMode: 'bulk' });
      const ids: string[] = [];
      const staged: Buffer[] = [];
      let cursor: string | undefined;
      do {
        const page = await connectors.fetchPage(inst(cursor));
        staged.push(page.parts[0].bytes);
        const lines = page.parts[0].bytes.toString('utf8').split('\n').filter(Boolean);
        expect(lines.length).toBeLessThanOrEqual(250);
        ids.push(...lines.map((l) => (JSON.parse(l) as { id: string }).id));
        cursor = page.nextCursor;
      } while (cursor);
      expect(ids).toEqual(bigLines.map((_, i) => `b${i}`));
      // The staged pages hold the file's lines as they were, a CR before its LF included (quarantine keeps them).
      expect(Buffer.concat(staged).toString('utf8')).toBe(
        bigLines.map((l, i) => (i % 100 === 0 ? `${l}\r\n` : `${l}\n`)).join(''),
      );
      // Eight pages, each asking for the file from where the last one stopped: the byte where line 250·k starts.
      const lineStarts = [0];
      for (let at = bigFile.indexOf(0x0a); at >= 0; at = bigFile.indexOf(0x0a, at + 1))
        lineStarts.push(at + 1);
      const nonBlank = lineStarts.filter((at) => bigFile[at] !== 0x0a && bigFile[at] !== 0x0d);
      expect(big.from).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((k) => nonBlank[250 * k]));
    }
    // A cursor written before byte offsets (file index and line count only) still resumes at its line.
    const old = JSON.stringify({ status: `${base}/big/fhir/status/1`, f: 0, l: 1990 });
    const rest = await createConnectors({ ratePerSecond: 1000, fhirMode: 'bulk' }).fetchPage(inst(old));
    const restIds = rest.parts[0].bytes
      .toString('utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { id: string }).id);
    expect(restIds).toEqual(bigLines.slice(1990).map((_, i) => `b${1990 + i}`));
    expect(rest.nextCursor).toBeUndefined();
  });

  it('says when a file holds other than the manifest counts (records missing upstream), on its last page', async () => {
    const gaps = async (count: number) => {
      big.count = count;
      try {
        const connectors = createConnectors({ ratePerSecond: 1000, fhirMode: 'bulk' });
        const found: (number | undefined)[] = [];
        let cursor: string | undefined;
        do {
          const page = await connectors.fetchPage({
            ...request(cursor),
            institution: { ...request().institution, id: 'big' },
            pageSize: 500,
          });
          found.push(page.sourceGaps);
          cursor = page.nextCursor;
        } while (cursor);
        return found;
      } finally {
        big.count = undefined;
      }
    };
    expect(await gaps(2001)).toEqual([undefined, undefined, undefined, 1]);
    expect(await gaps(2000)).toEqual([undefined, undefined, undefined, undefined]);
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
