import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createKeyService } from '../deid/key-service';

/** Shared by imaging/ tests: a fixed test key, the real sample files, and dcmdump as an independent parser. */

export const testKeyService = () => createKeyService({ key: Buffer.alloc(32, 7), keyId: 'test-key' });

export const SAMPLE_DIR = path.resolve(import.meta.dirname, '../../shared/data/dicom');

export function sampleFiles(): string[] {
  const manifest = fs.readFileSync(path.join(SAMPLE_DIR, 'MANIFEST.tsv'), 'utf8');
  return manifest
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split('\t')[0]);
}

/** Runs dcmdump on the bytes; throws with dcmdump's stderr when it cannot read them. */
export function dcmdump(bytes: Buffer, args: string[] = []): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-dcm-'));
  const file = path.join(dir, 'x.dcm');
  fs.writeFileSync(file, bytes);
  try {
    return execFileSync('dcmdump', ['-E', ...args, file], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 << 20,
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
