/**
 * Per-format mapping throughput on one core: records/s, resources/s and MB/s, with and without FHIR R4 validation.
 * Inputs are the real samples in ../shared/data (replicated to a measurable size) and a small generator run for the
 * generator-only formats. Prints medians of 3 runs, as rates per CPU-second of this process (one core; the shared
 * machine's load does not distort them; background JIT and GC threads are included). The first rep of each is a
 * warm-up and is not counted. The last columns put mapping against a floor measured in the same run: JSON.parse of
 * the same bytes (JSON formats) or decode + segment/field split (HL7 v2); "mapping/baseline" 0.5 means mapping runs at
 * half the speed of parsing alone. Not part of `npm test`.
 *
 *   npx tsx bench/map-throughput.ts            (all formats)
 *   npx tsx bench/map-throughput.ts hl7v2 fhir (some)
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mapBuffer } from '../mappers/index';
import type { MapContext, SourceFormat } from '../mappers/types';
import { hisCsvMappingSchema } from '../schemas/his-csv-mapping';
import { generateSynth } from '../synth/generate';
import { median } from './median';

const DATA = process.env.TRIBUTARY_SAMPLE_DATA ?? join(import.meta.dirname, '..', '..', 'shared', 'data');

function files(dir: string, ext = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p, ext));
    else if (p.endsWith(ext)) out.push(p);
  }
  return out;
}

function repeat(buf: Buffer, targetBytes: number, sep = ''): Buffer {
  const parts: Buffer[] = [];
  let n = 0;
  while (n < targetBytes) {
    parts.push(buf, Buffer.from(sep));
    n += buf.length + sep.length;
  }
  return Buffer.concat(parts);
}

interface Workload {
  format: SourceFormat;
  label: string;
  inputs: Buffer[];
  ctx: MapContext;
}

async function run(
  w: Workload,
  validate: boolean,
): Promise<{ records: number; resources: number; bytes: number; seconds: number }> {
  const times: number[] = [];
  let records = 0;
  let resources = 0;
  const bytes = w.inputs.reduce((n, b) => n + b.length, 0);
  // Rep 0 warms the JIT (and loads the FHIR definitions when validating) and is not counted.
  for (let rep = 0; rep < 4; rep++) {
    records = 0;
    resources = 0;
    // CPU time of this process, not wall time: the machine is shared, and the target is throughput on one core.
    const c0 = process.cpuUsage();
    for (const input of w.inputs) {
      const r = await mapBuffer(w.format, input, { ...w.ctx, validate });
      records += r.recordsIn;
      resources += r.resources.length;
    }
    const c = process.cpuUsage(c0);
    if (rep > 0) times.push((c.user + c.system) / 1e6);
  }
  return { records, resources, bytes, seconds: median(times) };
}

/**
 * The floor under a format's mapping on this machine, measured in the same run: JSON.parse of the same bytes (per
 * line for NDJSON) for JSON formats, decode + segment/field split for HL7 v2. Returns CPU-seconds (median of 3).
 */
function baselineSeconds(w: Workload): number | undefined {
  const json = ['fhir', 'openmhealth', 'vendor-wearable', 'openfda', 'nrdl', 'pdex-formulary'].includes(
    w.format,
  );
  if (!json && w.format !== 'hl7v2') return undefined;
  const times: number[] = [];
  let sink = 0;
  for (let rep = 0; rep < 4; rep++) {
    const c0 = process.cpuUsage();
    for (const input of w.inputs) {
      const text = input.toString('utf8');
      if (w.format === 'hl7v2') {
        for (const seg of text.split('\r')) sink += seg.split('|').length;
      } else {
        try {
          sink += JSON.parse(text) ? 1 : 0;
        } catch {
          for (const line of text.split('\n')) if (line.trim()) sink += JSON.parse(line) ? 1 : 0;
        }
      }
    }
    const c = process.cpuUsage(c0);
    if (rep > 0) times.push((c.user + c.system) / 1e6);
  }
  return sink >= 0 ? median(times) : undefined;
}

async function main(): Promise<void> {
  const only = new Set(process.argv.slice(2));
  const synthDir = mkdtempSync(join(tmpdir(), 'tributary-bench-'));
  try {
    generateSynth({
      out: synthDir,
      seed: 'bench',
      patients: 20,
      institutions: ['bj-union-east', 'sh-ruijin-north', 'nj-gulou-east', 'cd-huaxi-west'],
    });
    const ctx = (extra: Partial<MapContext> = {}): MapContext => ({
      institution: 'bench-inst',
      sourceFile: 'bench',
      timezone: 'Asia/Shanghai',
      subjectMrn: 'M1',
      ...extra,
    });
    const hl7 = Buffer.concat(
      files(join(DATA, 'hl7v2'), '.hl7').map((f) =>
        Buffer.from(
          readFileSync(f, 'utf8')
            .replace(/^\uFEFF/, '')
            .replace(/\n/g, '\r') + '\r',
        ),
      ),
    );
    const bulk = Buffer.concat(
      files(join(DATA, 'fhir/bulk-ndjson-10-patients'), '.ndjson')
        .filter((f) => !f.endsWith('log.ndjson'))
        .map((f) => readFileSync(f)),
    );
    const hisMapping = hisCsvMappingSchema.parse(
      JSON.parse(
        readFileSync(join(import.meta.dirname, '..', 'config', 'his-csv', 'bj-union-east.json'), 'utf8'),
      ),
    );
    const labs = readFileSync(join(synthDir, 'bj-union-east/ehr/his/labs.csv'));
    const header = labs.subarray(0, labs.indexOf(0x0a) + 1);
    const body = labs.subarray(labs.indexOf(0x0a) + 1);
    const workloads: Workload[] = [
      {
        format: 'fhir',
        label: 'FHIR normalize (Synthea bulk NDJSON x4)',
        inputs: [repeat(bulk, bulk.length * 4)],
        ctx: ctx(),
      },
      {
        format: 'hl7v2',
        label: 'HL7 v2 (139 sample files, CR, x8)',
        inputs: [repeat(hl7, hl7.length * 8)],
        ctx: ctx(),
      },
      {
        format: 'his-csv',
        label: 'HIS CSV GBK (generated labs.csv x200)',
        inputs: [Buffer.concat([header, repeat(body, body.length * 200)])],
        ctx: ctx({ columnMapping: hisMapping }),
      },
      {
        format: 'openmhealth',
        label: 'Open mHealth (generated patient files)',
        inputs: files(join(synthDir, 'bj-union-east/wearable')).map((f) => readFileSync(f)),
        ctx: ctx(),
      },
      {
        format: 'vendor-wearable',
        label: 'vendor wearable JSON (generated)',
        inputs: files(join(synthDir, 'sh-ruijin-north/wearable')).map((f) => readFileSync(f)),
        ctx: ctx(),
      },
      {
        format: 'apple-health',
        label: 'Apple Health export.xml (hkimport, 11k records)',
        inputs: [readFileSync(join(DATA, 'apple-health/hkimport/export.xml'))],
        ctx: ctx(),
      },
      {
        format: 'spl',
        label: 'FDA SPL XML (7 real labels)',
        inputs: files(join(DATA, 'druglabel/spl-xml'), '.xml').map((f) => readFileSync(f)),
        ctx: ctx(),
      },
      {
        format: 'openfda',
        label: 'openFDA label JSON (5 results)',
        inputs: [readFileSync(join(DATA, 'druglabel/openfda-json/drug-label-5-records.json'))],
        ctx: ctx(),
      },
      {
        format: 'cn-label',
        label: 'Chinese label text (generated)',
        inputs: files(join(synthDir, 'bj-union-east/druglabel')).map((f) => readFileSync(f)),
        ctx: ctx(),
      },
      {
        format: 'nrdl',
        label: 'NRDL 2024 catalogue (4750 drugs)',
        inputs: [readFileSync(join(DATA, 'nrdl/nrdl_4750_drugs.json'))],
        ctx: ctx(),
      },
      {
        format: 'pdex-formulary',
        label: 'PDex formulary (real examples + seed)',
        inputs: files(join(DATA, 'formulary'), '.json').map((f) => readFileSync(f)),
        ctx: ctx(),
      },
    ];
    process.stdout.write(
      'format            | input                                    | records | resources | no validation: rec/s  res/s   MB/s | with validation: rec/s  res/s  MB/s | baseline MB/s  mapping/baseline\n',
    );
    for (const w of workloads) {
      if (only.size && !only.has(w.format)) continue;
      const fast = await run(w, false);
      // Validation is ~100x slower: measure it on a slice so the bench stays minutes, not hours.
      const sliceW = { ...w, inputs: w.inputs.length > 1 ? w.inputs : [w.inputs[0]] };
      const slow =
        fast.records > 20_000 && w.format !== 'apple-health'
          ? await run({ ...sliceW, inputs: [sliceHead(w.format, w.inputs[0])] }, true)
          : await run(w, true);
      const fmt = (n: number): string => (n >= 100 ? Math.round(n).toString() : n.toFixed(1));
      const base = baselineSeconds(w);
      const baseCol =
        base === undefined
          ? ''
          : `${fmt(fast.bytes / 1e6 / base).padStart(13)}  ${(base / fast.seconds).toFixed(2).padStart(16)}`;
      process.stdout.write(
        `${w.format.padEnd(17)} | ${w.label.padEnd(40)} | ${String(fast.records).padStart(7)} | ${String(fast.resources).padStart(9)} | ` +
          `${fmt(fast.records / fast.seconds).padStart(20)} ${fmt(fast.resources / fast.seconds).padStart(7)} ${fmt(fast.bytes / 1e6 / fast.seconds).padStart(6)} | ` +
          `${fmt(slow.records / slow.seconds).padStart(21)} ${fmt(slow.resources / slow.seconds).padStart(6)} ${fmt(slow.bytes / 1e6 / slow.seconds).padStart(5)} | ${baseCol}\n`,
      );
    }
  } finally {
    rmSync(synthDir, { recursive: true, force: true });
  }
}

/** The first ~2000 records of a big input, cut on a record boundary. */
function sliceHead(format: SourceFormat, buf: Buffer): Buffer {
  const sep = format === 'hl7v2' ? Buffer.from('\rMSH|') : Buffer.from('\n');
  let pos = 0;
  for (let i = 0; i < 2000; i++) {
    const next = buf.indexOf(sep, pos + 1);
    if (next < 0) return buf;
    pos = next;
  }
  return buf.subarray(0, pos + 1);
}

await main();
