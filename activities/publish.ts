import fs from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../platform/files';

export interface BulkManifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: false;
  output: { type: string; url: string; count: number }[];
  error: { type: string; url: string }[];
}

/**
 * The FHIR Bulk Data manifest for a run's output folder: every `fhir/<Type>.*.ndjson` with its resource count,
 * rebuilt from what is on disk, so writing it twice gives the same file list. `onFile` is told each file counted
 * (the activity heartbeats with it).
 */
export async function writeBulkManifest(
  runDir: string,
  options: { transactionTime?: string; onFile?: (done: number) => void } = {},
): Promise<number> {
  const { transactionTime = new Date().toISOString(), onFile } = options;
  const fhirDir = path.join(runDir, 'fhir');
  let names: string[] = [];
  try {
    names = (await fs.readdir(fhirDir)).filter((n) => n.endsWith('.ndjson')).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const output: BulkManifest['output'] = [];
  for (const name of names) {
    const text = await fs.readFile(path.join(fhirDir, name), 'utf8');
    const count = text.split('\n').filter((l) => l.length > 0).length;
    output.push({ type: name.slice(0, name.indexOf('.')), url: `fhir/${name}`, count });
    onFile?.(output.length);
  }
  const manifest: BulkManifest = {
    transactionTime,
    request: 'tributary ingest',
    requiresAccessToken: false,
    output,
    error: [],
  };
  await writeFileAtomic(path.join(runDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  return output.length;
}
