import http from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TributaryError } from '../platform/errors';
import { loadInstitutionRegistry } from '../platform/institutions';
import { QIDO_PAGE, createConnectors, localDateOf, type FetchPageRequest } from './connectors';

/**
 * The DICOMweb imaging connector against a tiny in-process DICOMweb root: studies in a stable order whatever order
 * the PACS answers in, whole studies to a page, instances in series/instance-number order, a cursor without UIDs,
 * `since` as a local StudyDate range, 5xx retryable and 4xx not.
 */
type Instance = { series: string; seriesNumber: number; sop: string; number: number };
const studies: { uid: string; date: string; time: string; instances: Instance[] }[] = [
  // Answered out of order on purpose: the connector sorts by StudyDate, StudyTime, StudyInstanceUID.
  {
    uid: '2.25.300',
    date: '20240302',
    time: '080000',
    instances: [{ series: '2.25.31', seriesNumber: 1, sop: '2.25.311', number: 1 }],
  },
  {
    uid: '2.25.100',
    date: '20240101',
    time: '090000',
    instances: [
      { series: '2.25.12', seriesNumber: 2, sop: '2.25.121', number: 1 },
      { series: '2.25.11', seriesNumber: 1, sop: '2.25.112', number: 2 },
      { series: '2.25.11', seriesNumber: 1, sop: '2.25.111', number: 1 },
    ],
  },
  {
    uid: '2.25.200',
    date: '20240101',
    time: '100000',
    instances: [{ series: '2.25.21', seriesNumber: 1, sop: '2.25.211', number: 1 }],
  },
];
// A PACS with more studies than one QIDO answer holds (it honours limit and offset), to check the listing pages.
const many = Array.from({ length: 1234 }, (_, n) => ({
  uid: `2.25.9${String(n).padStart(4, '0')}`,
  date: '20230101',
  time: '000000',
  instances: [{ series: '2.25.8', seriesNumber: 1, sop: `2.25.7${n}`, number: 1 }],
}));
const catalogs: Record<string, typeof studies> = { pacs: studies, big: many };
const ui = (v: string) => ({ vr: 'UI', Value: [v] });
let server: http.Server;
let base: string;
const seen: string[] = [];
let failRetrieve: { status: number; retryAfter?: string } | undefined;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    seen.push(url.pathname + url.search);
    const json = (body: unknown) =>
      res.writeHead(200, { 'content-type': 'application/dicom+json' }).end(JSON.stringify(body));
    const catalog = catalogs[url.pathname.split('/')[1]] ?? [];
    if (/^\/\w+\/studies$/.test(url.pathname)) {
      const from = /^(\d{8})-$/.exec(url.searchParams.get('StudyDate') ?? '')?.[1];
      const offset = Number(url.searchParams.get('offset') ?? 0);
      const limit = Number(url.searchParams.get('limit') ?? Infinity);
      const matches = catalog.filter((s) => !from || s.date >= from).reverse();
      return json(
        matches.slice(offset, offset + limit).map((s) => ({
          '0020000D': ui(s.uid),
          '00080020': { vr: 'DA', Value: [s.date] },
          '00080030': { vr: 'TM', Value: [s.time] },
        })),
      );
    }
    let m = /^\/\w+\/studies\/([\d.]+)\/instances$/.exec(url.pathname);
    if (m) {
      const study = catalog.find((s) => s.uid === m![1]);
      if (!study) return res.writeHead(404).end();
      return json(
        study.instances.map((x) => ({
          '0020000E': ui(x.series),
          '00080018': ui(x.sop),
          '00200011': { vr: 'IS', Value: [x.seriesNumber] },
          '00200013': { vr: 'IS', Value: [x.number] },
        })),
      );
    }
    m = /^\/\w+\/studies\/([\d.]+)\/series\/([\d.]+)\/instances\/([\d.]+)$/.exec(url.pathname);
    if (m) {
      if (failRetrieve)
        return res
          .writeHead(
            failRetrieve.status,
            failRetrieve.retryAfter ? { 'retry-after': failRetrieve.retryAfter } : {},
          )
          .end();
      const boundary = 'b0undary';
      const body = Buffer.concat([
        Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
        Buffer.from(`DICM:${m[3]}`),
        Buffer.from(`\r\n--${boundary}--\r\n`),
      ]);
      return res
        .writeHead(200, {
          'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
        })
        .end(body);
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(() => {
  server?.close();
});

beforeEach(() => {
  seen.length = 0;
  failRetrieve = undefined;
});

function request(cursor?: string, since?: string, pacs = 'pacs'): FetchPageRequest {
  const inst = loadInstitutionRegistry().institutions.find((i) => i.timezone === 'Asia/Shanghai')!;
  return {
    endpoint: 'http://unused.invalid',
    institution: { ...inst, imaging: { ...inst.imaging!, dicomwebUrl: `${base}/${pacs}` } },
    source: 'imaging',
    cursor,
    since,
    pageSize: 10,
  };
}

const connectors = createConnectors({ imagingMode: 'dicomweb', ratePerSecond: 1000 });

describe('DICOMweb imaging connector', () => {
  it('pages whole studies in a stable order, instances by series and instance number, cursors without UIDs', async () => {
    // Three instances to a page: the first study fills one, the next two share the second.
    const paged = createConnectors({ imagingMode: 'dicomweb', ratePerSecond: 1000, filesPerPage: 3 });
    const pages = [];
    let cursor: string | undefined;
    do {
      const page = await paged.fetchPage(request(cursor));
      pages.push(page);
      cursor = page.nextCursor;
    } while (cursor);
    expect(pages.map((p) => p.parts.map((x) => x.bytes.toString()))).toEqual([
      ['DICM:2.25.111', 'DICM:2.25.112', 'DICM:2.25.121'],
      ['DICM:2.25.211', 'DICM:2.25.311'],
    ]);
    expect(pages[0].nextCursor).toBe(JSON.stringify({ i: 1 }));
    expect(pages.map((p) => p.sourceFile)).toEqual([
      'dicomweb/study-00001',
      'dicomweb/study-00002..dicomweb/study-00003',
    ]);
    expect(pages.every((p) => p.format === 'dicom-study')).toBe(true);
    // Nothing that travels in workflow history (cursor, names, sourceFile) holds a UID.
    const travelling = JSON.stringify(
      pages.map((p) => ({ c: p.nextCursor, s: p.sourceFile, n: p.parts.map((x) => x.name) })),
    );
    expect(travelling).not.toMatch(/2\.25\./);
    // The registry's dicomwebUrl wins over the run's endpoint.
    expect(seen.every((u) => u.startsWith('/pacs/'))).toBe(true);
    // The PACS is listed once per source run (its first page); later pages reuse the listing.
    expect(seen.filter((u) => u.startsWith('/pacs/studies?'))).toHaveLength(1);
    await paged.fetchPage(request());
    expect(seen.filter((u) => u.startsWith('/pacs/studies?'))).toHaveLength(2);
    // With one instance to a page, a study larger than that is a page of its own.
    const single = createConnectors({ imagingMode: 'dicomweb', ratePerSecond: 1000, filesPerPage: 1 });
    expect((await single.fetchPage(request())).parts).toHaveLength(3);
    expect((await single.fetchPage(request(JSON.stringify({ i: 1 })))).parts).toHaveLength(1);
  });

  it('resumes from a cursor with a fresh connector and ends after the last study', async () => {
    const page = await createConnectors({ imagingMode: 'dicomweb' }).fetchPage(
      request(JSON.stringify({ i: 2 })),
    );
    expect(page.parts.map((x) => x.bytes.toString())).toEqual(['DICM:2.25.311']);
    expect(page.nextCursor).toBeUndefined();
    const past = await connectors.fetchPage(request(JSON.stringify({ i: 3 })));
    expect(past.parts).toEqual([]);
    expect(past.nextCursor).toBeUndefined();
  });

  it('asks for studies from since on, as the institution-local StudyDate', async () => {
    // 2024-03-01T20:00Z is 2024-03-02 in Shanghai.
    const page = await connectors.fetchPage(request(undefined, '2024-03-01T20:00:00Z'));
    expect(seen[0]).toBe(`/pacs/studies?StudyDate=20240302-&limit=${QIDO_PAGE}&offset=0`);
    expect(page.parts.map((x) => x.bytes.toString())).toEqual(['DICM:2.25.311']);
    expect(localDateOf('2024-03-01T20:00:00Z', 'America/Chicago', 'since')).toBe('20240301');
    expect(() => localDateOf('yesterday', 'UTC', 'since')).toThrow(/since: not an ISO 8601 instant/);
  });

  it('lists a PACS larger than one QIDO answer, page by page', async () => {
    const last = await connectors.fetchPage(
      request(JSON.stringify({ i: many.length - 1 }), undefined, 'big'),
    );
    // Sorted by UID within the same date and time: the last study is the highest UID.
    expect(last.parts.map((x) => x.bytes.toString())).toEqual([`DICM:2.25.7${many.length - 1}`]);
    expect(last.nextCursor).toBeUndefined();
    expect(seen.filter((u) => u.startsWith('/big/studies?'))).toHaveLength(
      Math.ceil(many.length / QIDO_PAGE),
    );
  });

  it('makes 429 and 503 retryable (Retry-After kept) and 400 final, naming the institution and never a UID', async () => {
    for (const [status, nonRetryable] of [
      [429, false],
      [503, false],
      [400, true],
    ] as const) {
      failRetrieve = { status, retryAfter: status === 429 ? '3' : undefined };
      const err = await connectors.fetchPage(request()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TributaryError);
      expect((err as TributaryError).nonRetryable).toBe(nonRetryable);
      expect((err as TributaryError & { retryAfterMs?: number }).retryAfterMs).toBe(
        status === 429 ? 3000 : undefined,
      );
      expect((err as TributaryError).message).toMatch(
        new RegExp(`DICOMweb dicomweb/study-00001 retrieve instance 1: .*HTTP ${status}`),
      );
      expect((err as TributaryError).message).not.toMatch(/2\.25\./);
    }
  });

  it('refuses an unknown imaging mode', () => {
    expect(() => createConnectors({ imagingMode: 'pacs' as never })).toThrow(/imagingMode/);
  });
});
