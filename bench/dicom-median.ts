/**
 * 3x3 median on a 512x512 16-bit image: Tributary's median3x3 against OpenCV's cv2.medianBlur
 * (opencv-python-headless) in the same run, plus sharp's .median(3) on 16-bit raw for reference. Checks that
 * Tributary's output equals OpenCV's (both replicate borders). Tributary is timed allocating its output per call
 * (as medianBlur does) and again writing into a caller's buffer reused across calls (as for the frames of an image).
 *
 *   npx tsx bench/dicom-median.ts [runs, default 30]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp, { type CreateRaw } from 'sharp';
import { median3x3 } from '../imaging/median';
import { benchPython, median, runBaseline } from './dicom-venv';

const runs = Number(process.argv[2] ?? 30);
const W = 512;
const H = 512;
let seed = 42;
const img = Uint16Array.from({ length: W * H }, (_, i) => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return (((i % W) * 7 + Math.floor(i / W) * 3) % 3000) + (seed % 400); // CT-like ramp + noise, 12-bit range
});

const python = benchPython();
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-median-'));
const rawIn = path.join(work, 'in.raw');
const rawOurs = path.join(work, 'ours.raw');
fs.writeFileSync(rawIn, Buffer.from(img.buffer));

const ours: number[] = [];
let out = median3x3(img, W, H);
for (let r = 0; r < runs + 3; r++) {
  const t = performance.now();
  out = median3x3(img, W, H);
  if (r >= 3) ours.push(performance.now() - t);
}
fs.writeFileSync(rawOurs, Buffer.from(out.buffer));

const reused: number[] = [];
const into = new Uint16Array(W * H);
for (let r = 0; r < runs + 3; r++) {
  const t = performance.now();
  median3x3(img, W, H, into);
  if (r >= 3) reused.push(performance.now() - t);
}
if (!into.every((v, i) => v === out[i]))
  throw new Error('median3x3 into a reused buffer differs from the allocating call');

const sharpTimes: number[] = [];
for (let r = 0; r < Math.min(runs, 10); r++) {
  const t = performance.now();
  await sharp(Buffer.from(img.buffer), {
    raw: { width: W, height: H, channels: 1, depth: 'ushort' } as CreateRaw,
  })
    .median(3)
    .toColourspace('grey16')
    .raw({ depth: 'ushort' })
    .toBuffer();
  sharpTimes.push(performance.now() - t);
}

const cv = runBaseline(python, ['median', rawIn, String(W), String(H), String(runs), rawOurs]);
const oursMs = median(ours);
const cvMs = cv.median_seconds * 1000;
const cv1Ms = (cv.single_thread_median_seconds ?? cv.median_seconds) * 1000;
const sharpMs = median(sharpTimes);
const reusedMs = median(reused);
process.stdout.write(`3x3 median, 512x512 uint16, median of ${runs} runs, one core\n`);
process.stdout.write(`  tributary median3x3        ${oursMs.toFixed(2).padStart(8)} ms\n`);
process.stdout.write(`  tributary, reused output   ${reusedMs.toFixed(2).padStart(8)} ms\n`);
process.stdout.write(`  opencv medianBlur(3)       ${cvMs.toFixed(2).padStart(8)} ms (default threads)\n`);
process.stdout.write(
  `  opencv medianBlur(3)       ${cv1Ms.toFixed(2).padStart(8)} ms (cv2.setNumThreads(1))\n`,
);
process.stdout.write(`  sharp .median(3) 16-bit    ${sharpMs.toFixed(2).padStart(8)} ms\n`);
process.stdout.write(
  `  ratio tributary / opencv   ${(oursMs / cvMs).toFixed(2)}x (default threads), ${(oursMs / cv1Ms).toFixed(2)}x (one thread); target <= 3x\n`,
);
process.stdout.write(
  `  ratio with reused output   ${(reusedMs / cvMs).toFixed(2)}x (default threads), ${(reusedMs / cv1Ms).toFixed(2)}x (one thread)\n`,
);
process.stdout.write(`  outputs identical to OpenCV: ${cv.identical ? 'yes' : 'NO'}\n`);
fs.rmSync(work, { recursive: true, force: true });
