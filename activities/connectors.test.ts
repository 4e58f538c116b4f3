import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { Readable } from 'node:stream';
import iconv from 'iconv-lite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadInstitutionRegistry } from '../platform/institutions';
import { TributaryError } from '../platform/errors';
import type { Institution, SourceKind } from '../schemas/institution';
import { mapHl7v2 } from '../mappers/ehr/hl7v2';
import { DATA_DIR } from '../mappers/test-support/data';
import type { FhirResource, MapResult } from '../mappers/types';
import { mapAppleHealthStream } from '../mappers/wearable/apple-health';
import { createConnectors, type SourcePage } from './connectors';

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

/** A file drop of HIS CSV files under `/drop/files/`: sizes as listed (undefined: not listed), bodies of that size. */
const drop: { path: string; size: number; listed: boolean }[] = [
  { path: 'ehr/his/a.csv', size: 300, listed: true },
  { path: 'ehr/his/b.csv', size: 500, listed: true },
  { path: 'ehr/his/c.csv', size: 900, listed: true },
  { path: 'ehr/his/d.csv', size: 100, listed: true },
  { path: 'ehr/his/e.csv', size: 100, listed: true },
];
const dropGets: string[] = [];

/**
 * A HIS dump larger than a page, in GBK: 400 records of a notes table, every other one with a quoted line break and a
 * doubled quote, CRLF line ends. Served at `/csvdrop/files/`, with Range or without.
 */
const csvHeader = '就诊号,病案号,类型,时间,内容\r\n';
const csvRecords = Array.from(
  { length: 400 },
  (_, i) => `V${i},ZY${i},出院小结,2024/3/5 9:05,${i % 2 ? '无特殊' : '"第一行\n第二行, 引号""内"""'}\r\n`,
);
const csvFile = iconv.encode(csvHeader + csvRecords.join(''), 'gbk');
const csvServer = { range: true };

/**
 * An HL7 v2 batch file larger than a page, in GB 18030 (declared by its first message only): two batches of 150
 * messages with Chinese names, no MSH-10
 * (ids come from each message's ordinal in the file), line ends CR, CR LF or LF by message, every fifth message in
 * MLLP framing, one message rejected. Served at `/hl7drop/files/`, with Range or without.
 */
const hl7Messages = Array.from({ length: 300 }, (_, i) => {
  const end = ['\r', '\r\n', '\n'][i % 3];
  const segments = [
    // Only the first message names the character set, as many feeds do: a whole file is decoded with it.
    `MSH|^~\\&|HIS|FAC|TRIB|FAC|20240305081500||ADT^A04|||2.5.1||||||${i === 0 ? 'GB 18030' : ''}`,
    // Message 201 has no identifier: rejected, its location names its ordinal and lines.
    i === 200 ? 'PID|1' : `PID|1||MRN${i}^^^HOSP^MR||张^${'伟芳娜敏静'[i % 5]}||19900307|F`,
    `PV1|1|O`,
  ];
  return (i % 5 === 4 ? '\x0b' : '') + segments.join(end) + end;
});
// The second batch's trailer counts one message more than it holds: found though its header is pieces away.
const hl7Batch = (from: number) =>
  `BHS|^~\\&|HIS|FAC\r${hl7Messages.slice(from, from + 150).join('')}BTS|${from ? 151 : 150}\r`;
const hl7File = iconv.encode(`FHS|^~\\&|HIS|FAC\r${hl7Batch(0)}${hl7Batch(150)}FTS|2\r`, 'gb18030');

/**
 * A real Apple Health export (3.8 MB) with one step count past its middle made unreadable (a rejected record names its
 * line), and a malformed export; served at `/ahdrop/files/` and `/ahbad/files/`.
 */
const appleExport = (() => {
  const text = readFileSync(path.join(DATA_DIR, 'apple-health/hkimport/export.xml'), 'utf8');
  const at = text.indexOf('<Record type="HKQuantityTypeIdentifierStepCount"', text.length / 2);
  const value = text.indexOf(' value="', at);
  return Buffer.from(`${text.slice(0, value)} value="n/a${text.slice(text.indexOf('"', value + 8))}`);
})();
const appleMalformed = readFileSync(path.join(DATA_DIR, 'apple-health/hkimport/exportSmall_MALFORMED.xml'));

let server: http.Server;
let endpoint: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    if (req.url === '/drop/files/') {
      res.setHeader('content-type', 'application/json');
      return res.end(
        JSON.stringify({
          files: drop.map((f) => ({ source: 'ehr', path: f.path, ...(f.listed ? { size: f.size } : {}) })),
        }),
      );
    }
    if (req.url === '/csvdrop/files/') {
      res.setHeader('content-type', 'application/json');
      return res.end(
        JSON.stringify({ files: [{ source: 'ehr', path: 'ehr/his/notes.csv', size: csvFile.length }] }),
      );
    }
    if (req.url === '/hl7drop/files/') {
      res.setHeader('content-type', 'application/json');
      return res.end(
        JSON.stringify({ files: [{ source: 'ehr', path: 'ehr/hl7/adt.hl7', size: hl7File.length }] }),
      );
    }
    const exportFor = { '/ahdrop/files/': appleExport, '/ahbad/files/': appleMalformed }[req.url ?? ''];
    if (exportFor) {
      res.setHeader('content-type', 'application/json');
      return res.end(
        JSON.stringify({
          files: [{ source: 'wearable', path: 'wearable/export.xml', size: exportFor.length }],
        }),
      );
    }
    const served =
      req.url === '/csvdrop/files/ehr/his/notes.csv'
        ? csvFile
        : req.url === '/hl7drop/files/ehr/hl7/adt.hl7'
          ? hl7File
          : req.url === '/ahdrop/files/wearable/export.xml'
            ? appleExport
            : req.url === '/ahbad/files/wearable/export.xml'
              ? appleMalformed
              : undefined;
    if (served) {
      const range = csvServer.range ? /^bytes=(\d+)-/.exec(req.headers.range ?? '') : null;
      if (!range) return res.end(served);
      const from = Number(range[1]);
      if (from >= served.length) return res.writeHead(416).end();
      return res.writeHead(206).end(served.subarray(from));
    }
    const dropped = drop.find((f) => req.url === `/drop/files/${f.path}`);
    if (dropped) {
      dropGets.push(dropped.path);
      return res.end(Buffer.alloc(dropped.size, 0x61));
    }
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

/** Every page of an institution's EHR (or another source's) file drop, first to last. */
async function ehrPages(
  connectors: ReturnType<typeof createConnectors>,
  institution: Institution,
  source: SourceKind = 'ehr',
) {
  const pages: SourcePage[] = [];
  let cursor: string | undefined;
  do {
    const page = await connectors.fetchPage({ endpoint, institution, source, cursor, pageSize: 1 });
    pages.push(page);
    cursor = page.nextCursor;
  } while (cursor);
  return pages;
}

describe('file drops', () => {
  const his = loadInstitutionRegistry().institutions.find((i) => i.ehr?.format === 'his-csv')!;
  async function dropPages(options: { pageBytes?: number; maxFileBytes?: number }) {
    const connectors = createConnectors({ ratePerSecond: 1000, filesPerPage: 3, ...options });
    return (await ehrPages(connectors, { ...his, id: 'drop' })).map((page) =>
      page.parts.map((p) => `${p.name}:${p.bytes.length}`),
    );
  }

  it('stops a page before its listed sizes pass pageBytes (a larger file alone), and at filesPerPage', async () => {
    expect(await dropPages({ pageBytes: 1000 })).toEqual([
      ['ehr/his/a.csv:300', 'ehr/his/b.csv:500'],
      ['ehr/his/c.csv:900', 'ehr/his/d.csv:100'],
      ['ehr/his/e.csv:100'],
    ]);
    expect(await dropPages({ pageBytes: 800 })).toEqual([
      ['ehr/his/a.csv:300', 'ehr/his/b.csv:500'],
      ['ehr/his/c.csv:900'],
      ['ehr/his/d.csv:100', 'ehr/his/e.csv:100'],
    ]);
  });

  it('refuses a file over maxFileBytes by name and size, before downloading it when the listing gives its size', async () => {
    dropGets.length = 0;
    const listed = await dropPages({ maxFileBytes: 800 }).catch((e: unknown) => e);
    expect(listed).toBeInstanceOf(TributaryError);
    expect((listed as TributaryError).message).toMatch(
      /^ehr\/his\/c\.csv: 900 bytes, over the 800 bytes a file may be \(files are read whole\)/,
    );
    expect((listed as TributaryError).nonRetryable).toBe(true);
    expect(dropGets).not.toContain('ehr/his/c.csv');
    // Not listed: refused as it arrives.
    drop[2].listed = false;
    try {
      const unlisted = await dropPages({ maxFileBytes: 800 }).catch((e: unknown) => e);
      expect((unlisted as TributaryError).message).toMatch(/^ehr\/his\/c\.csv: .* over the/);
      expect((unlisted as TributaryError).nonRetryable).toBe(true);
    } finally {
      drop[2].listed = true;
    }
  });
});

describe('a HIS CSV dump larger than a page', () => {
  const his = loadInstitutionRegistry().institutions.find((i) => i.ehr?.format === 'his-csv')!;

  it('goes in pieces of whole records, each with the header and its first line in the file, with or without Range', async () => {
    for (const range of [true, false]) {
      csvServer.range = range;
      const connectors = createConnectors({ ratePerSecond: 1000, pageBytes: 2000 });
      const pages = await ehrPages(connectors, { ...his, id: 'csvdrop' });
      expect(pages.every((p) => p.format === 'his-csv')).toBe(true);
      const pieces = pages.flatMap((p) => p.parts);
      expect(pieces.length).toBeGreaterThan(5);
      const header = iconv.encode(csvHeader, 'gbk');
      let line = 2;
      const rows: string[][] = [];
      for (const p of pieces) {
        expect(p.bytes.subarray(0, header.length).equals(header)).toBe(true);
        const body = p.bytes.subarray(header.length);
        // Each piece starts where the last one ended, at a whole record, on the line it says.
        expect(p.firstLine).toBe(line);
        for (let at = body.indexOf(0x0a); at >= 0; at = body.indexOf(0x0a, at + 1)) line++;
        const records = parse(iconv.decode(p.bytes, 'gb18030')) as string[][];
        expect(records[0]).toEqual(['就诊号', '病案号', '类型', '时间', '内容']);
        rows.push(...records.slice(1));
      }
      expect(Buffer.concat(pieces.map((p) => p.bytes.subarray(header.length)))).toEqual(
        csvFile.subarray(header.length),
      );
      expect(rows.map((r) => r[0])).toEqual(csvRecords.map((_, i) => `V${i}`));
      expect(rows[36][4]).toBe('第一行\n第二行, 引号"内"');
    }
  });
});

describe('an HL7 v2 batch file larger than a page', () => {
  const hl7 = loadInstitutionRegistry().institutions.find((i) => i.ehr?.format === 'hl7v2')!;

  it('goes in pieces of whole messages, each with its first line and message ordinal, with or without Range', async () => {
    const ctx = { institution: hl7.id, sourceFile: 'ehr/hl7/adt.hl7', timezone: 'Asia/Shanghai' };
    const whole = mapHl7v2(hl7File, ctx);
    expect([whole.recordsIn, whole.recordsMapped]).toEqual([300, 299]);
    expect(whole.issues.map((i) => i.location?.[0])).toEqual([
      'ehr/hl7/adt.hl7:message 201 (line 605):PID-3 (line 606)',
      'ehr/hl7/adt.hl7:line 905',
    ]);
    for (const range of [true, false]) {
      csvServer.range = range;
      const connectors = createConnectors({ ratePerSecond: 1000, pageBytes: 2000 });
      const pages = await ehrPages(connectors, { ...hl7, id: 'hl7drop' });
      expect(pages.every((p) => p.format === 'hl7v2')).toBe(true);
      const pieces = pages.flatMap((p) => p.parts);
      expect(pieces.length).toBeGreaterThan(10);
      expect(Buffer.concat(pieces.map((p) => p.bytes))).toEqual(hl7File);
      for (const p of pieces.slice(1))
        // A message or a batch starts each piece, a batch header with its first message.
        expect(iconv.decode(p.bytes.subarray(0, 4), 'gb18030')).toMatch(/^(\vMSH|MSH\||BHS\|)/);
      // Mapped piece by piece, the file gives what it gives whole: the same ids (from message ordinals), the same
      // resources, every message once.
      const mapped = pieces.map((p) =>
        mapHl7v2(p.bytes, {
          ...ctx,
          firstLine: p.firstLine,
          firstRecord: p.firstRecord,
          hl7File: p.hl7File,
        }),
      );
      expect(mapped.flatMap((m) => m.resources)).toEqual(whole.resources);
      expect(mapped.flatMap((m) => m.issues)).toEqual(whole.issues);
      expect(mapped.reduce((n, m) => n + m.recordsIn, 0)).toBe(300);
    }
  });
});

describe('an Apple Health export larger than a page', () => {
  const apple = loadInstitutionRegistry().institutions.find((i) => i.wearable?.format === 'apple-health')!;
  const ctx = { institution: apple.id, sourceFile: 'wearable/export.xml', subjectMrn: 'M1' };
  const map = (bytes: Buffer, extra: { firstLine?: number; firstRecord?: number } = {}) =>
    mapAppleHealthStream(Readable.from([bytes]), { ...ctx, ...extra });

  it('goes in pieces of whole top-level records inside the root element, mapping to the whole file’s records', async () => {
    const whole = await map(appleExport);
    expect(whole.issues.filter((i) => i.severity === 'error').map((i) => i.location?.[0])).toEqual([
      expect.stringMatching(/^wearable\/export\.xml:line \d{4,} Record:value$/),
    ]);
    const ids = (rs: FhirResource[]) => rs.map((r) => `${r.resourceType}/${r.id}`);
    // Heart-rate windows are the resources whose ids are numbered per piece: the rest keep theirs.
    const renumbered = new Set(ids((await map(appleExport, { firstRecord: 1 })).resources));
    const windowIds = new Set(ids(whole.resources).filter((id) => !renumbered.has(id)));
    expect(windowIds.size).toBeGreaterThan(10);
    const kept = ids(whole.resources).filter((id) => !windowIds.has(id));
    const body = appleExport.indexOf('<Record');
    for (const range of [true, false]) {
      csvServer.range = range;
      const connectors = createConnectors({ ratePerSecond: 1000, pageBytes: 256 * 1024 });
      const pieces = (await ehrPages(connectors, { ...apple, id: 'ahdrop' }, 'wearable')).flatMap(
        (p) => p.parts,
      );
      expect(pieces.length).toBeGreaterThan(10);
      const rootTag = Buffer.from('<HealthData locale="en_US">');
      const bodies = pieces.map((p, k) => {
        expect(p.bytes.subarray(0, rootTag.length)).toEqual(rootTag);
        const end = k < pieces.length - 1 ? p.bytes.length - '</HealthData>'.length : p.bytes.length;
        return p.bytes.subarray(rootTag.length, end);
      });
      // Every byte from the first record on, once, in order; each piece starts at a top-level element.
      expect(Buffer.concat(bodies).equals(appleExport.subarray(body))).toBe(true);
      for (const b of bodies) expect(b.subarray(0, 8).toString()).toMatch(/^<(Record|Workout|Correlation)\b/);
      const mapped: MapResult[] = [];
      for (const p of pieces)
        mapped.push(await map(p.bytes, { firstLine: p.firstLine, firstRecord: p.firstRecord }));
      const sum = (f: (r: MapResult) => number) => mapped.reduce((n, r) => n + f(r), 0);
      expect([sum((r) => r.recordsIn), sum((r) => r.recordsMapped)]).toEqual([
        whole.recordsIn,
        whole.recordsMapped,
      ]);
      // Records map to the same resources; a heart-rate window cut by a piece boundary is two Observations, each
      // with an id of its own.
      const pieceResources = mapped.flatMap((r) => r.resources);
      const pieceIds = new Set(ids(pieceResources));
      expect(kept.filter((id) => !pieceIds.has(id))).toEqual([]);
      const keptIds = new Set(kept);
      const windows = [...pieceIds].filter((id) => !keptIds.has(id));
      expect(windows.length).toBeGreaterThanOrEqual(windowIds.size);
      expect(windows.every((id) => id.startsWith('Observation/'))).toBe(true);
      // Ids are as unique as the whole file's (the export repeats some records word for word; Devices repeat per piece).
      const repeats = (rs: FhirResource[]) => {
        const list = ids(rs.filter((r) => r.resourceType !== 'Device'));
        return list.length - new Set(list).size;
      };
      expect(repeats(pieceResources)).toBe(repeats(whole.resources)); // Locations are the file's lines: the same issues as the whole file's (Food correlations counted per piece).
      const located = (r: MapResult[]) =>
        r.flatMap((m) => m.issues).filter((i) => i.severity !== 'information');
      expect(located(mapped)).toEqual(located([whole]));
    }
  });

  it('reads a malformed export in pieces up to where it breaks, then the rest whole: the break is located in the file', async () => {
    const whole = await map(appleMalformed);
    const fatal = whole.issues.find((i) => i.severity === 'fatal')!;
    const connectors = createConnectors({ ratePerSecond: 1000, pageBytes: 1024 });
    const pieces = (await ehrPages(connectors, { ...apple, id: 'ahbad' }, 'wearable')).flatMap(
      (p) => p.parts,
    );
    expect(pieces.length).toBeGreaterThan(3);
    const mapped: MapResult[] = [];
    for (const p of pieces)
      mapped.push(await map(p.bytes, { firstLine: p.firstLine, firstRecord: p.firstRecord }));
    const fatals = mapped.flatMap((m) => m.issues).filter((i) => i.severity === 'fatal');
    expect(fatals.map((i) => i.location)).toEqual([fatal.location]);
    expect(mapped.reduce((n, r) => n + r.recordsMapped, 0)).toBe(whole.recordsMapped);
    // Past the file limit with no boundary in sight, the rest is refused by name instead of read whole.
    const small = createConnectors({ ratePerSecond: 1000, pageBytes: 1024, maxFileBytes: 8192 });
    const refused = await ehrPages(small, { ...apple, id: 'ahbad' }, 'wearable').catch((e: unknown) => e);
    expect((refused as TributaryError).message).toMatch(
      /^wearable\/export\.xml: no record boundary within 8192 bytes/,
    );
  });
});
