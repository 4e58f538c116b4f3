/**
 * CPU per file written and read: platform/files.ts (synchronous writes up to SYNC_WRITE_MAX_BYTES, synchronous
 * reads) against the same write beside and rename through fs/promises, one file at a time and eight at once, at sizes
 * the pipeline writes (a quarantine log, a page, a DICOM study).
 *
 *   npx tsx bench/file-writes.ts [--files 1000] [--runs 5]
 *
 * Prints the median over the runs of CPU microseconds per file (this process: user + system, all threads, so the
 * thread pool's work counts too) and wall microseconds per file.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { SYNC_WRITE_MAX_BYTES, writeFileAtomic } from '../platform/files';
import { median } from './median';

const { values } = parseArgs({
  options: { files: { type: 'string', default: '1000' }, runs: { type: 'string', default: '5' } },
});
const files = Number(values.files);
const runs = Number(values.runs);
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-files-'));

async function writeFileAtomicPromises(file: string, data: Buffer): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  await fsp.writeFile(tmp, data);
  await fsp.rename(tmp, file);
}

type Variant = {
  name: string;
  write: (file: string, data: Buffer) => Promise<void> | void;
  concurrency: number;
};
const variants: Variant[] = [
  { name: 'platform/files', write: writeFileAtomic, concurrency: 1 },
  { name: 'fs/promises, 1 at a time', write: writeFileAtomicPromises, concurrency: 1 },
  { name: 'fs/promises, 8 at once', write: writeFileAtomicPromises, concurrency: 8 },
];

async function measure(
  v: Variant,
  data: Buffer,
  run: number,
  count: number,
): Promise<{ cpu: number; wall: number }> {
  const dir = path.join(root, `${v.name.replace(/\W+/g, '-')}-${data.length}-${run}`);
  let next = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: v.concurrency }, async () => {
      while (next < count) await v.write(path.join(dir, `f${next++ % 100}`, 'object.enc'), data);
    }),
  );
  const wall = ((performance.now() - t0) * 1000) / count;
  const c = process.cpuUsage(c0);
  return { cpu: (c.user + c.system) / count, wall };
}

for (const size of [4_096, 65_536, 1_048_576]) {
  const data = crypto.randomBytes(size);
  const n = size >= 1_000_000 ? Math.max(50, Math.floor(files / 10)) : files;
  const results = new Map<string, { cpu: number[]; wall: number[] }>();
  for (let run = 0; run < runs; run++) {
    for (const v of variants) {
      const r = await measure(v, data, run, n);
      const entry = results.get(v.name) ?? { cpu: [], wall: [] };
      entry.cpu.push(r.cpu);
      entry.wall.push(r.wall);
      results.set(v.name, entry);
    }
  }
  const base = median(results.get(variants[0].name)!.cpu);
  const how = size <= SYNC_WRITE_MAX_BYTES ? 'synchronous' : 'through fs/promises';
  process.stdout.write(
    `\n${(size / 1024).toFixed(0)} KiB (platform/files writes it ${how}), ${n} files per run, median of ${runs} runs:\n`,
  );
  for (const [name, r] of results) {
    const cpu = median(r.cpu);
    process.stdout.write(
      `  write, ${name.padEnd(26)} CPU ${cpu.toFixed(0).padStart(6)} µs/file (${(cpu / base).toFixed(2)}x)  wall ${median(r.wall).toFixed(0).padStart(6)} µs/file\n`,
    );
  }
  // Reads of what the first variant wrote: the 100 files of its last run, n times over.
  const written = path.join(root, `${variants[0].name.replace(/\W+/g, '-')}-${data.length}-${runs - 1}`);
  const reads = { sync: [] as number[], promises: [] as number[] };
  for (let run = 0; run < runs; run++) {
    for (const kind of ['sync', 'promises'] as const) {
      const c0 = process.cpuUsage();
      for (let i = 0; i < n; i++) {
        const file = path.join(written, `f${i % 100}`, 'object.enc');
        if (kind === 'sync') fs.readFileSync(file);
        else await fsp.readFile(file);
      }
      const c = process.cpuUsage(c0);
      reads[kind].push((c.user + c.system) / n);
    }
  }
  const rs = median(reads.sync);
  process.stdout.write(
    `  read, readFileSync               CPU ${rs.toFixed(0).padStart(6)} µs/file (1.00x)\n`,
  );
  process.stdout.write(
    `  read, fs/promises                CPU ${median(reads.promises).toFixed(0).padStart(6)} µs/file (${(median(reads.promises) / rs).toFixed(2)}x)\n`,
  );
}
fs.rmSync(root, { recursive: true, force: true });
