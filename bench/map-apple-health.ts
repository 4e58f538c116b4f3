/**
 * Apple Health streaming: generates an export.xml of the given size (default 1 GiB) in a temp dir, maps it in a child
 * process (so its peak RSS is the mapper's alone) with mapFile + onBatch (batches discarded after counting), prints
 * MB/s and records/s per CPU-second and wall-second, and the child's peak RSS; deletes the file after.
 *
 *   npx tsx bench/map-apple-health.ts              (1 GiB)
 *   npx tsx bench/map-apple-health.ts --mb 200     (smaller, same shape)
 *   npx tsx bench/map-apple-health.ts --mb 50 --validate
 *   npx tsx bench/map-apple-health.ts --mb 200 --baseline   (also saxes alone on the same file, for the ratio)
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
const isChild = args[0] === '--child';

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

function appleTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

/** A realistic mix: heart rate every ~5 s (windowed), steps and distance per few minutes, SpO2, sleep, BP correlations. */
async function generate(path: string, bytes: number): Promise<number> {
  const out = createWriteStream(path, { highWaterMark: 1 << 20 });
  const write = async (s: string): Promise<void> => {
    if (!out.write(s)) await once(out, 'drain');
  };
  await write(
    '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE HealthData [\n<!ELEMENT HealthData (ExportDate,Me,(Record|Correlation|Workout|ActivitySummary)*)>\n]>\n<HealthData locale="en_US">\n <ExportDate value="2024-01-01 00:00:00 +0000"/>\n <Me HKCharacteristicTypeIdentifierDateOfBirth="" HKCharacteristicTypeIdentifierBiologicalSex="HKBiologicalSexNotSet" HKCharacteristicTypeIdentifierBloodType="HKBloodTypeNotSet" HKCharacteristicTypeIdentifierFitzpatrickSkinType="HKFitzpatrickSkinTypeNotSet"/>\n',
  );
  const dev =
    'device="&lt;&lt;HKDevice: 0x1700a&gt;, name:Apple Watch, manufacturer:Apple, model:Watch, hardware:Watch6,1, software:10.1&gt;"';
  let written = 0;
  let records = 0;
  let t = Date.UTC(2020, 0, 1);
  let chunk = '';
  while (written < bytes) {
    const at = appleTime(t);
    const i = records % 20;
    let line: string;
    if (i < 14)
      line = ` <Record type="HKQuantityTypeIdentifierHeartRate" sourceName="Watch" sourceVersion="10.1" ${dev} unit="count/min" creationDate="${at}" startDate="${at}" endDate="${at}" value="${60 + (records % 40)}"/>\n`;
    else if (i < 17)
      line = ` <Record type="HKQuantityTypeIdentifierStepCount" sourceName="Watch" sourceVersion="10.1" ${dev} unit="count" creationDate="${at}" startDate="${at}" endDate="${appleTime(t + 60_000)}" value="${records % 120}"/>\n`;
    else if (i === 17)
      line = ` <Record type="HKQuantityTypeIdentifierOxygenSaturation" sourceName="Watch" sourceVersion="10.1" ${dev} unit="%" creationDate="${at}" startDate="${at}" endDate="${at}" value="0.9${records % 10}"/>\n`;
    else if (i === 18)
      line = ` <Record type="HKCategoryTypeIdentifierSleepAnalysis" sourceName="Watch" sourceVersion="10.1" creationDate="${at}" startDate="${at}" endDate="${appleTime(t + 1_800_000)}" value="HKCategoryValueSleepAnalysisAsleepCore"/>\n`;
    else
      line = ` <Correlation type="HKCorrelationTypeIdentifierBloodPressure" sourceName="Cuff" creationDate="${at}" startDate="${at}" endDate="${at}">\n  <Record type="HKQuantityTypeIdentifierBloodPressureSystolic" sourceName="Cuff" unit="mmHg" startDate="${at}" endDate="${at}" value="12${records % 10}"/>\n  <Record type="HKQuantityTypeIdentifierBloodPressureDiastolic" sourceName="Cuff" unit="mmHg" startDate="${at}" endDate="${at}" value="8${records % 10}"/>\n </Correlation>\n`;
    chunk += line;
    written += line.length;
    records++;
    t += 5_000;
    if (chunk.length > 1 << 20) {
      await write(chunk);
      chunk = '';
    }
  }
  await write(chunk + '</HealthData>\n');
  out.end();
  await once(out, 'finish');
  return records;
}

/** The floor: saxes (the parser this mapper used before xml-scan.ts) over the same file, with no mapping at all. */
async function runSaxesBaseline(path: string): Promise<void> {
  const { SaxesParser } = await import('saxes');
  const { createReadStream } = await import('node:fs');
  const { StringDecoder } = await import('node:string_decoder');
  const parser = new SaxesParser();
  let elements = 0;
  parser.on('opentag', () => elements++);
  const decoder = new StringDecoder('utf8');
  const c0 = process.cpuUsage();
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }))
    parser.write(decoder.write(chunk as Buffer));
  parser.close();
  const c = process.cpuUsage(c0);
  process.stdout.write(JSON.stringify({ elements, cpuSeconds: (c.user + c.system) / 1e6 }) + '\n');
}

async function runChild(path: string, validate: boolean): Promise<void> {
  const { mapFile } = await import('../mappers/index');
  let recordsIn = 0;
  let mapped = 0;
  let resources = 0;
  let issues = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const total = await mapFile(
    'apple-health',
    path,
    { institution: 'bench', sourceFile: 'export.xml', subjectMrn: 'M1', validate },
    async (b) => {
      recordsIn += b.recordsIn;
      mapped += b.recordsMapped;
      resources += b.resources.length;
      issues += b.issues.length;
    },
  );
  const c = process.cpuUsage(c0);
  process.stdout.write(
    JSON.stringify({
      recordsIn: total.recordsIn,
      batchRecordsIn: recordsIn,
      mapped,
      rejected: total.recordsRejected,
      resources,
      issues,
      cpuSeconds: (c.user + c.system) / 1e6,
      wallSeconds: (performance.now() - t0) / 1000,
      maxRssMiB: process.resourceUsage().maxRSS / 1024,
    }) + '\n',
  );
}

async function main(): Promise<void> {
  const mbArg = args.indexOf('--mb');
  const mb = mbArg >= 0 ? Number(args[mbArg + 1]) : 1024;
  const validate = args.includes('--validate');
  const dir = mkdtempSync(join(tmpdir(), 'tributary-apple-'));
  const file = join(dir, 'export.xml');
  try {
    const g0 = performance.now();
    const generated = await generate(file, mb * 1024 * 1024);
    const size = statSync(file).size;
    process.stdout.write(
      `generated ${(size / 1048576).toFixed(0)} MiB, ${generated} top-level elements in ${((performance.now() - g0) / 1000).toFixed(1)}s\n`,
    );
    const r = await child(['--child', file, validate ? 'validate' : 'no-validate']);
    const mbs = size / 1e6;
    process.stdout.write(
      `apple-health ${validate ? 'with' : 'without'} validation: ${r.recordsIn} records in = ${r.mapped} mapped + ${r.rejected} rejected, ${r.resources} resources, ${r.issues} issues\n` +
        `  per CPU-second (one core): ${(mbs / r.cpuSeconds).toFixed(1)} MB/s, ${Math.round(r.recordsIn / r.cpuSeconds)} records/s\n` +
        `  per wall-second (shared machine): ${(mbs / r.wallSeconds).toFixed(1)} MB/s (${r.wallSeconds.toFixed(0)} s)\n` +
        `  peak RSS of the mapping process: ${r.maxRssMiB.toFixed(0)} MiB\n`,
    );
    if (args.includes('--baseline')) {
      const b = await child(['--saxes', file]);
      process.stdout.write(
        `  baseline, saxes alone (no mapping) on the same file: ${(mbs / b.cpuSeconds).toFixed(1)} MB/s per CPU-second; mapping/baseline ${(b.cpuSeconds / r.cpuSeconds).toFixed(2)}\n`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Run this script in a child process (its peak RSS is then its own) and return its last JSON line. */
async function child(childArgs: string[]): Promise<Record<string, number>> {
  const proc = spawn(process.execPath, ['--import', 'tsx', import.meta.filename, ...childArgs], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const [code] = (await once(proc, 'exit')) as [number];
  if (code !== 0) throw new Error(`child exited with ${code}`);
  return JSON.parse(out.trim().split('\n').pop() as string) as Record<string, number>;
}

if (isChild) await runChild(args[1], args[2] === 'validate');
else if (args[0] === '--saxes') await runSaxesBaseline(args[1]);
else await main();
