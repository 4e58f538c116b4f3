import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadInstitutionRegistry } from '../platform/institutions';
import { createConnectors } from './connectors';

/** File drops over a real HTTP file index: how imaging study folders become pages. */
const inst = loadInstitutionRegistry().institutions[0];

/** Study folders and their instance counts, in path order: d is larger than a page. */
const studies: [string, number][] = [
  ['study-a', 2],
  ['study-b', 1],
  ['study-c', 5],
  ['study-d', 1],
  ['study-e', 1],
];
const files = studies.flatMap(([study, n]) =>
  Array.from({ length: n }, (_, i) => `imaging/${study}/${String(i + 1).padStart(3, '0')}.dcm`),
);

let server: http.Server;
let endpoint: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const prefix = `/${inst.id}/files/`;
    if (req.url === prefix) {
      res.setHeader('content-type', 'application/json');
      return res.end(
        JSON.stringify({ files: files.map((p) => ({ source: 'imaging', path: p, size: p.length })) }),
      );
    }
    const p = decodeURIComponent(req.url!.slice(prefix.length));
    if (!files.includes(p)) {
      res.writeHead(404);
      return res.end();
    }
    res.end(p);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => server.close());

async function pagesFrom(cursor: string | undefined, filesPerPage: number) {
  const connectors = createConnectors({ ratePerSecond: 1000, filesPerPage, imagingMode: 'files' });
  const pages: { sourceFile: string; parts: string[] }[] = [];
  do {
    const page = await connectors.fetchPage({
      endpoint,
      institution: inst,
      source: 'imaging',
      cursor,
      pageSize: 1,
    });
    pages.push({ sourceFile: page.sourceFile, parts: page.parts.map((p) => p.name) });
    cursor = page.nextCursor;
  } while (cursor);
  return pages;
}

describe('imaging file drops', () => {
  it('puts whole studies on a page up to filesPerPage instances; a larger study is a page of its own', async () => {
    const pages = await pagesFrom(undefined, 4);
    expect(pages.map((p) => p.sourceFile)).toEqual(['study-a..study-b', 'study-c', 'study-d..study-e']);
    expect(pages.map((p) => p.parts.length)).toEqual([3, 5, 2]);
    // Every instance exactly once, in path order, and no study split across pages.
    expect(pages.flatMap((p) => p.parts)).toEqual(files);
  });

  it('resumes from a cursor written when a page held one study (the index of the next study)', async () => {
    const pages = await pagesFrom(JSON.stringify({ i: 1 }), 4);
    expect(pages.map((p) => p.sourceFile)).toEqual(['study-b', 'study-c', 'study-d..study-e']);
    expect(pages.flatMap((p) => p.parts)).toEqual(files.slice(2));
  });

  it('gives one study per page with filesPerPage 1, and an empty page past the end', async () => {
    const pages = await pagesFrom(undefined, 1);
    expect(pages.map((p) => p.sourceFile)).toEqual(studies.map(([s]) => s));
    const connectors = createConnectors({ ratePerSecond: 1000, imagingMode: 'files' });
    const past = await connectors.fetchPage({
      endpoint,
      institution: inst,
      source: 'imaging',
      cursor: JSON.stringify({ i: studies.length }),
      pageSize: 1,
    });
    expect(past.parts).toEqual([]);
    expect(past.nextCursor).toBeUndefined();
  });
});
