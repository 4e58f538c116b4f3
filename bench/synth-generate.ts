/**
 * Generation time and size for 18 institutions. Prints the figures for a baseline size and the target size, and
 * the ratio (time per patient should stay flat: the generator is linear in patients).
 *
 *   npx tsx bench/synth-generate.ts [patients=1000] [baseline=100] [out=/tmp/tributary-synth-bench]
 */
import fs from 'node:fs';
import path from 'node:path';
import { generateSynth } from '../synth/generate';

const patients = Number(process.argv[2] ?? 1000);
const baseline = Number(process.argv[3] ?? 100);
const outRoot = process.argv[4] ?? '/tmp/tributary-synth-bench';

function run(n: number): {
  seconds: number;
  files: number;
  bytes: number;
  gtBytes: number;
  planted: number;
  persons: number;
  linked: number;
} {
  const out = path.join(outRoot, `p${n}`);
  fs.rmSync(out, { recursive: true, force: true });
  const t = performance.now();
  const r = generateSynth({ out, seed: 'bench', patients: n });
  const seconds = (performance.now() - t) / 1000;
  return {
    seconds,
    files: r.files,
    bytes: r.bytes,
    gtBytes: fs.statSync(path.join(out, 'ground-truth.json')).size,
    planted: r.groundTruth.planted.length,
    persons: r.groundTruth.persons.length,
    linked: r.groundTruth.persons.filter((p) => p.attends.length > 1).length,
  };
}

const mib = (b: number) => (b / 1_048_576).toFixed(1);
const rows: [number, ReturnType<typeof run>][] = [];
for (const n of [baseline, patients]) {
  const r = run(n);
  rows.push([n, r]);
  process.stdout.write(
    `18 x ${n} patients: ${r.seconds.toFixed(1)} s, ${r.files} files, ${mib(r.bytes)} MiB (ground-truth.json ${mib(r.gtBytes)} MiB), ` +
      `${r.planted} planted values, ${r.persons} persons (${r.linked} linked), ${((r.seconds * 1000) / (18 * n)).toFixed(2)} ms/patient\n`,
  );
}
const [[nb, b], [nt, t]] = rows;
process.stdout.write(
  `scaling: ${(nt / nb).toFixed(1)}x patients -> ${(t.seconds / b.seconds).toFixed(2)}x time, ${(t.bytes / b.bytes).toFixed(2)}x bytes\n`,
);
