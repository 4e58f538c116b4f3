import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

/** Output folders made by this process (a run writes many files to a few folders); ENOENT on write makes one again. */
const made = new Set<string>();
const MADE_DIRS_MAX = 10_000;

async function ensureDir(dir: string, force = false): Promise<void> {
  if (!force && made.has(dir)) return;
  await fs.mkdir(dir, { recursive: true });
  if (made.size >= MADE_DIRS_MAX) made.clear();
  made.add(dir);
}

/** Write beside and rename, so a reader or a killed worker never leaves half a file, and a retry replaces it. */
export async function writeFileAtomic(file: string, data: string | Buffer): Promise<void> {
  const dir = path.dirname(file);
  await ensureDir(dir);
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  try {
    await fs.writeFile(tmp, data);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    await ensureDir(dir, true);
    await fs.writeFile(tmp, data);
  }
  await fs.rename(tmp, file);
}

export interface BulkManifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: false;
  output: { type: string; url: string; count: number }[];
  error: { type: string; url: string }[];
}

/**
 * The FHIR Bulk Data manifest for a run's output folder: every `fhir/<Type>.*.ndjson` with its resource count,
 * rebuilt from what is on disk, so writing it twice gives the same file list.
 */
export async function writeBulkManifest(runDir: string, transactionTime = new Date().toISOString()): Promise<number> {
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
  }
  const manifest: BulkManifest = { transactionTime, request: 'tributary ingest', requiresAccessToken: false, output, error: [] };
  await writeFileAtomic(path.join(runDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  return output.length;
}
