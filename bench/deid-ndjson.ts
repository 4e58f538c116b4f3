/**
 * `tributary deid fhir` on a Bulk-export-sized input: the Synthea sample in ../shared/data copied until the files
 * reach `--megabytes` (each copy gets its own resource ids and SSNs, so every copy is a different set of patients),
 * then de-identified once. Prints resources/s and MB/s of CPU, and the process's peak resident memory next to the
 * input's size: the run streams its files, so the peak should stay far below the input once the input is large.
 *
 *   npx tsx bench/deid-ndjson.ts [--megabytes 600] [--keep <dir>]
 *
 * The input goes to a temporary folder (removed afterwards unless --keep names one to reuse).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createKeyService } from '../deid/key-service';
import { deidentifyNdjson } from '../deid/ndjson-run';
import { SYNTHEA_BULK_DIR } from './samples';

const { values } = parseArgs({
  options: { megabytes: { type: 'string', default: '600' }, keep: { type: 'string' } },
});
const megabytes = Number(values.megabytes);
if (!(megabytes > 0)) throw new Error('--megabytes must be a positive number');
const sample = SYNTHEA_BULK_DIR;

const root = values.keep ? path.resolve(values.keep) : fs.mkdtempSync(path.join(os.tmpdir(), 'deid-ndjson-'));
const inDir = path.join(root, 'in');
const outDir = path.join(root, 'out');

/** Copy `c` of a line: every UUID's first 8 hex digits and every SSN's last 6 digits become the copy's own. */
function copyOf(line: string, c: number): string {
  const hex = c.toString(16).padStart(8, '0');
  const six = String(c % 1_000_000).padStart(6, '0');
  return line
    .replace(/\b[0-9a-f]{8}-(?=[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b)/g, `${hex}-`)
    .replace(/\b999-\d\d-\d{4}\b/g, `999-${six.slice(0, 2)}-${six.slice(2)}`);
}

function generate(): { bytes: number; lines: number } {
  const files = fs.readdirSync(sample).filter((f) => f.endsWith('.ndjson') && f !== 'log.ndjson');
  const sources = files.map((f) => ({
    name: f.replace(/\.000\..*$/, '.ndjson'),
    lines: fs
      .readFileSync(path.join(sample, f), 'utf8')
      .split('\n')
      .filter((l) => l.trim()),
  }));
  const perCopy = sources.reduce((a, s) => a + s.lines.reduce((b, l) => b + Buffer.byteLength(l) + 1, 0), 0);
  const copies = Math.max(1, Math.ceil((megabytes * 1e6) / perCopy));
  fs.mkdirSync(inDir, { recursive: true });
  let bytes = 0;
  let lines = 0;
  for (const s of sources) {
    const fd = fs.openSync(path.join(inDir, s.name), 'w');
    for (let c = 0; c < copies; c++) {
      const chunk = s.lines.map((l) => copyOf(l, c) + '\n').join('');
      fs.writeSync(fd, chunk);
      bytes += Buffer.byteLength(chunk);
      lines += s.lines.length;
    }
    fs.closeSync(fd);
  }
  return { bytes, lines };
}

let input: { bytes: number; lines: number };
if (values.keep && fs.existsSync(inDir)) {
  input = { bytes: 0, lines: 0 };
  for (const f of fs.readdirSync(inDir)) {
    input.bytes += fs.statSync(path.join(inDir, f)).size;
  }
  process.stderr.write(`reusing ${inDir}\n`);
} else {
  process.stderr.write(`generating ${megabytes} MB of NDJSON in ${inDir} ...\n`);
  input = generate();
}

const cpu0 = process.cpuUsage();
const wall0 = performance.now();
let report: ReturnType<typeof deidentifyNdjson> | undefined;
let failure: string | undefined;
try {
  report = deidentifyNdjson({
    inPath: inDir,
    outDir,
    profile: 'safe-harbor',
    keyService: createKeyService({ key: crypto.randomBytes(32), keyId: 'bench' }),
    institution: 'bench',
  });
} catch (e) {
  failure = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}
const cpu = process.cpuUsage(cpu0);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
const wallSeconds = (performance.now() - wall0) / 1000;
const largest = Math.max(...fs.readdirSync(inDir).map((f) => fs.statSync(path.join(inDir, f)).size));
console.log(
  JSON.stringify(
    {
      input: {
        megabytes: +(input.bytes / 1e6).toFixed(1),
        largestFileMegabytes: +(largest / 1e6).toFixed(1),
        lines: report?.totals.lines ?? input.lines,
      },
      ...(failure
        ? { failed: failure }
        : {
            out: report!.totals.out,
            quarantined: report!.totals.quarantined,
            resourcesPerSecCpu: Math.round(report!.totals.lines / cpuSeconds),
            megabytesPerSecCpu: +(input.bytes / 1e6 / cpuSeconds).toFixed(1),
          }),
      cpuSeconds: +cpuSeconds.toFixed(1),
      wallSeconds: +wallSeconds.toFixed(1),
      peakRssMegabytes: Math.round(process.resourceUsage().maxRSS / 1024),
    },
    null,
    2,
  ),
);
if (!values.keep) fs.rmSync(root, { recursive: true, force: true });
