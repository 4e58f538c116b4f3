import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The Python venv with the DICOM baselines (bench/setup-dicom-venv.sh creates it; run here when missing). */
export function benchPython(): string {
  const venv =
    process.env.TRIBUTARY_BENCH_VENV ?? path.join(os.homedir(), '.cache', 'tributary', 'bench-venv');
  const python = path.join(venv, 'bin', 'python');
  const ready = fs.existsSync(python) && spawnOk(python, ['-c', 'import dicognito, deid, cv2, pydicom']);
  if (!ready)
    execFileSync('bash', [path.join(import.meta.dirname, 'setup-dicom-venv.sh')], { stdio: 'inherit' });
  return python;
}

function spawnOk(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Run bench/dicom_baselines.py and parse its JSON line. */
export function runBaseline(
  python: string,
  args: string[],
): {
  tool: string;
  files?: number;
  seconds: number[];
  median_seconds: number;
  identical?: boolean;
  single_thread_median_seconds?: number;
} {
  const out = execFileSync(python, [path.join(import.meta.dirname, 'dicom_baselines.py'), ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 16 << 20,
  });
  return JSON.parse(out.trim().split('\n').pop()!);
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
