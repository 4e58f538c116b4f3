/**
 * A file drop's large files, fetched and mapped as an ingest worker does: an Apple Health export and an HL7 v2 batch
 * file of `--megabytes` each, served over HTTP with Range, taken by the connector a page at a time and mapped page by
 * page (`pieces`), next to the same file fetched and mapped whole (`whole`, what a page held before files were cut).
 * Each mode runs in a child process of its own, so the peak resident memory printed is that mode's alone. A whole
 * file past TRIBUTARY_MAX_FILE_MB (256) is refused, so `whole` is run only below it.
 *
 *   npx tsx bench/file-pieces.ts [--megabytes 200] [--page-mb 64]
 *
 * Inputs: the real export in ../shared/data/apple-health/hkimport (its records repeated, a day later each copy) and
 * the real HL7 v2 samples in ../shared/data/hl7v2 (concatenated, repeated, in one batch).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createConnectors } from '../activities/connectors';
import { mapBuffer, type MapContext, type SourceFormat } from '../mappers';
import { loadInstitutionRegistry } from '../platform/institutions';
import { DATA_DIR } from '../mappers/test-support/data';

const { values } = parseArgs({
  options: {
    megabytes: { type: 'string', default: '200' },
    'page-mb': { type: 'string', default: '64' },
    child: { type: 'string' },
    file: { type: 'string' },
  },
});
const megabytes = Number(values.megabytes);
const pageBytes = Math.round(Number(values['page-mb']) * 2 ** 20);

/** The Apple export's records repeated past `bytes` into `file`, each copy a day later so windows and ids are its own. */
function writeAppleExport(file: string, bytes: number): number {
  const text = fs.readFileSync(path.join(DATA_DIR, 'apple-health/hkimport/export.xml'), 'utf8');
  const body = text.indexOf('<Record');
  const records = text.slice(body, text.lastIndexOf('</HealthData>'));
  const fd = fs.openSync(file, 'w');
  let size = fs.writeSync(fd, text.slice(0, body));
  for (let c = 0; size < bytes; c++) {
    const copy = records.replace(/(\d{4})-(\d{2})-(\d{2}) /g, (_, y: string, m: string, d: string) => {
      const t = new Date(Date.UTC(Number(y), Number(m) - 1, Number(d)) + c * 86_400_000);
      return `${t.toISOString().slice(0, 10)} `;
    });
    size += fs.writeSync(fd, copy);
  }
  size += fs.writeSync(fd, '</HealthData>\n');
  fs.closeSync(fd);
  return size;
}

/** The HL7 v2 samples (the UTF-8 ones) in one batch, repeated past `bytes` into `file`. */
function writeHl7Batch(file: string, bytes: number): number {
  const dir = path.join(DATA_DIR, 'hl7v2');
  const messages = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.hl7'))
    .map((f) => fs.readFileSync(path.join(dir, f), 'utf8').replace(/\r?\n/g, '\r').trim())
    .filter((m) => m.startsWith('MSH') && !/\|GB|\|8859/.test(m.split('\r')[0]))
    .join('\r');
  const fd = fs.openSync(file, 'w');
  let size = fs.writeSync(fd, 'FHS|^~\\&|BENCH\rBHS|^~\\&|BENCH\r');
  while (size < bytes) size += fs.writeSync(fd, messages + '\r');
  size += fs.writeSync(fd, 'BTS\rFTS|1\r');
  fs.closeSync(fd);
  return size;
}

async function child(mode: 'pieces' | 'whole', format: SourceFormat, file: string): Promise<void> {
  // Served from disk, so the file's bytes count in this process's memory only as the connector holds them.
  const size = fs.statSync(file).size;
  const source = format === 'apple-health' ? 'wearable' : 'ehr';
  const server = http.createServer((req, res) => {
    if (req.url === '/bench/files/') {
      res.setHeader('content-type', 'application/json');
      return res.end(JSON.stringify({ files: [{ source, path: 'drop/file', size }] }));
    }
    const range = /^bytes=(\d+)-/.exec(req.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    res.writeHead(range ? 206 : 200);
    fs.createReadStream(file, { start }).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const registry = loadInstitutionRegistry().institutions;
  const institution = {
    ...registry.find((i) => (source === 'ehr' ? i.ehr?.format : i.wearable?.format) === format)!,
    id: 'bench',
  };
  const ctx: MapContext = {
    institution: 'bench',
    sourceFile: 'drop/file',
    subjectMrn: 'M1',
    validate: false,
  };
  const connectors = createConnectors({
    ratePerSecond: 10_000,
    // Whole: one page holds the file, as before files were cut (within the file limit).
    pageBytes: mode === 'whole' ? size + 1 : pageBytes,
    maxFileBytes: Math.max(size + 1, 256 * 2 ** 20),
  });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let cursor: string | undefined;
  let pages = 0;
  let records = 0;
  let resources = 0;
  do {
    const page = await connectors.fetchPage({ endpoint, institution, source, cursor, pageSize: 1 });
    for (const part of page.parts) {
      const r = await mapBuffer(format, part.bytes, {
        ...ctx,
        ...(part.firstLine !== undefined ? { firstLine: part.firstLine } : {}),
        ...(part.firstRecord !== undefined ? { firstRecord: part.firstRecord } : {}),
      });
      records += r.recordsIn;
      resources += r.resources.length;
    }
    pages++;
    cursor = page.nextCursor;
  } while (cursor);
  const cpu = process.cpuUsage(cpu0);
  server.close();
  console.log(
    JSON.stringify({
      pages,
      records,
      resources,
      cpuSeconds: Number(((cpu.user + cpu.system) / 1e6).toFixed(1)),
      wallSeconds: Number(((performance.now() - t0) / 1000).toFixed(1)),
      peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    }),
  );
}

if (values.child) {
  const [mode, format] = values.child.split(':') as ['pieces' | 'whole', SourceFormat];
  await child(mode, format, values.file!);
} else {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'file-pieces-'));
  const target = megabytes * 1e6;
  const inputs: [SourceFormat, (file: string, bytes: number) => number][] = [
    ['apple-health', writeAppleExport],
    ['hl7v2', writeHl7Batch],
  ];
  try {
    for (const [format, write] of inputs) {
      const file = path.join(dir, format);
      const size = write(file, target);
      const mb = (size / 1e6).toFixed(0);
      for (const mode of ['pieces', 'whole'] as const) {
        if (mode === 'whole' && size > 256 * 2 ** 20) {
          console.log(`${format} ${mb} MB ${mode}: refused (over TRIBUTARY_MAX_FILE_MB 256)`);
          continue;
        }
        const out = execFileSync(
          process.execPath,
          [
            ...process.execArgv,
            process.argv[1],
            '--child',
            `${mode}:${format}`,
            '--file',
            file,
            '--page-mb',
            String(values['page-mb']),
          ],
          { encoding: 'utf8', maxBuffer: 1 << 20 },
        );
        console.log(`${format} ${mb} MB ${mode}: ${out.trim()}`);
      }
      fs.rmSync(file);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
