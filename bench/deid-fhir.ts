/**
 * De-identification throughput on one core: the safe-harbor profile over a realistic mix (the Synthea bulk-export
 * sample in ../shared/data: Patient, Encounter, Condition, Observation-free clinical resources, DocumentReference
 * notes), next to JSON.parse + JSON.stringify of the same lines in the same run. De-identification is measured
 * end to end from NDJSON lines: parse, rules, text scrubbing, residual-PHI gate, stringify.
 *
 *   npx tsx bench/deid-fhir.ts [--runs 7] [--dir <ndjson dir>]
 *
 * Prints medians over runs, by CPU time of this process (the machine is shared; wall time is printed too).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { clearDeidCaches, createDeidEngine } from '../deid/index';
import { createKeyService } from '../deid/key-service';
import { median } from './median';
import { SYNTHEA_BULK_DIR } from './samples';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};
const runs = Number(opt('--runs', '7'));
const dir = opt('--dir', SYNTHEA_BULK_DIR);

const lines: string[] = [];
for (const f of fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.ndjson') && f !== 'log.ndjson')
  .sort((a, b) => (a.startsWith('Patient') ? -1 : b.startsWith('Patient') ? 1 : a.localeCompare(b)))) {
  for (const l of fs.readFileSync(path.join(dir, f), 'utf8').split('\n')) if (l.trim()) lines.push(l);
}
const bytes = lines.reduce((a, l) => a + Buffer.byteLength(l), 0);
const key = crypto.randomBytes(32);

const cpuMs = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};

function measure(fn: () => void): { cpu: number; wall: number } {
  const c0 = cpuMs();
  const w0 = performance.now();
  fn();
  return { cpu: cpuMs() - c0, wall: performance.now() - w0 };
}

const baseline: { cpu: number; wall: number }[] = [];
const deid: { cpu: number; wall: number }[] = [];
let published = 0;
let quarantined = 0;
for (let r = 0; r < runs + 1; r++) {
  const b = measure(() => {
    for (const l of lines) JSON.stringify(JSON.parse(l));
  });
  const d = measure(() => {
    // A fresh engine and key service per run: compiled rules, but no caches carried between runs (every HMAC of
    // every id and reference is paid, as it is for a new batch in production).
    clearDeidCaches();
    const keyService = createKeyService({ key, keyId: 'bench' });
    const engine = createDeidEngine({ profile: 'safe-harbor', keyService });
    const res = engine.deidentifyResources(
      lines.map((l) => JSON.parse(l)),
      { institution: 'bench' },
    );
    for (const o of res.outputs) JSON.stringify(o);
    published = res.outputs.length;
    quarantined = res.quarantined.length;
  });
  if (r === 0) continue; // warm-up
  baseline.push(b);
  deid.push(d);
}
const rate = (ms: number) => Math.round((lines.length / ms) * 1000);
const bCpu = median(baseline.map((x) => x.cpu));
const dCpu = median(deid.map((x) => x.cpu));
console.log(
  JSON.stringify(
    {
      input: {
        dir: path.relative(process.cwd(), dir),
        resources: lines.length,
        megabytes: +(bytes / 1e6).toFixed(2),
      },
      runs,
      published,
      quarantined,
      baselineParseStringify: {
        resourcesPerSecCpu: rate(bCpu),
        resourcesPerSecWall: rate(median(baseline.map((x) => x.wall))),
      },
      deidSafeHarbor: {
        resourcesPerSecCpu: rate(dCpu),
        resourcesPerSecWall: rate(median(deid.map((x) => x.wall))),
      },
      ratioOfBaseline: +(bCpu / dCpu).toFixed(3),
    },
    null,
    2,
  ),
);
