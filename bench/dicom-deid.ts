/**
 * Header de-identification throughput: Tributary's deidentifyDicom against dicognito and pydicom's deid on the same
 * CT/MR files in the same run (read + de-identify + write, per file). Python tools are timed in-process, start-up
 * excluded. Prints medians and ratios.
 *
 *   npx tsx bench/dicom-deid.ts [copies per file, default 100] [runs, default 3]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createKeyService } from '../deid/key-service';
import { deidentifyDicom } from '../imaging/dicom-deid';
import { benchPython, median, runBaseline } from './dicom-venv';

const copies = Number(process.argv[2] ?? 100);
const runs = Number(process.argv[3] ?? 3);
const SAMPLES = path.resolve(import.meta.dirname, '../../shared/data/dicom');
const CT_MR = ['CT_small.dcm', 'MR_small.dcm'];

const python = benchPython();
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-dicom-deid-'));
const inDir = path.join(work, 'in');
fs.mkdirSync(inDir);
let n = 0;
for (const f of CT_MR) {
  const bytes = fs.readFileSync(path.join(SAMPLES, f));
  for (let i = 0; i < copies; i++)
    fs.writeFileSync(path.join(inDir, `${String(n++).padStart(5, '0')}.dcm`), bytes);
}
const files = fs.readdirSync(inDir).map((f) => path.join(inDir, f));

function outDir(name: string): string {
  const d = path.join(work, name);
  fs.rmSync(d, { recursive: true, force: true });
  fs.mkdirSync(d);
  return d;
}

// Tributary: same work per file as the baselines (read from disk, de-identify, write to disk).
const keyService = createKeyService({ key: Buffer.alloc(32, 9), keyId: 'bench' });
const tribOut = outDir('tributary');
const tributaryTimes: number[] = [];
for (let r = 0; r < runs + 1; r++) {
  const t = performance.now();
  files.forEach((f, i) => {
    const res = deidentifyDicom(fs.readFileSync(f), { keyService, institution: 'bench' });
    if (res.status !== 'ok') throw new Error(`bench input quarantined: ${res.rule}`);
    fs.writeFileSync(path.join(tribOut, `${i}.dcm`), res.bytes);
  });
  if (r > 0) tributaryTimes.push((performance.now() - t) / 1000); // first run warms the JIT
}
const dicognito = runBaseline(python, ['dicognito', inDir, outDir('dicognito'), String(runs)]);
const deid = runBaseline(python, ['deid', inDir, outDir('deid'), String(runs)]);

const rate = (seconds: number) => files.length / seconds;
const tribRate = rate(median(tributaryTimes));
const rows = [
  ['tributary deidentifyDicom', tribRate],
  ['dicognito 0.19 (pydicom)', rate(dicognito.median_seconds)],
  ['pydicom deid (default recipe)', rate(deid.median_seconds)],
] as const;
process.stdout.write(
  `DICOM header de-identification, ${files.length} files (${CT_MR.join(', ')} x ${copies}), median of ${runs} runs, one core\n`,
);
for (const [name, r] of rows)
  process.stdout.write(`  ${name.padEnd(32)} ${r.toFixed(1).padStart(9)} files/s\n`);
process.stdout.write(
  `  ratio tributary / dicognito      ${(tribRate / rate(dicognito.median_seconds)).toFixed(1)}x (target >= 10x)\n`,
);
process.stdout.write(
  `  ratio tributary / pydicom deid   ${(tribRate / rate(deid.median_seconds)).toFixed(1)}x\n`,
);
fs.rmSync(work, { recursive: true, force: true });
