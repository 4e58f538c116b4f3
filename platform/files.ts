import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

/**
 * Files the pipeline writes (staged objects, published outputs). The ingest worker is bound by its main thread's CPU,
 * not by the disk, and for small files a promise-based write costs the process two to four times the CPU of a
 * synchronous one: the open, the write, the close and the rename each take a trip through the thread pool and a
 * promise. From a few hundred kilobytes on, copying the bytes dominates, and a synchronous write would hold the event
 * loop for milliseconds that the thread pool can spend instead (`npx tsx bench/file-writes.ts`). So small files are
 * written synchronously, large ones through fs/promises. Reads are synchronous: a read from the page cache is one copy.
 */
/** Folders made by this process (a run writes many files to a few folders); ENOENT on a write makes one again. */
const made = new Set<string>();
/** Bound on the remembered folders of a long-running worker (forgetting one costs one mkdir). */
const MADE_DIRS_MAX = 10_000;

/** Below this size a file is written synchronously (see the top of this file). */
export const SYNC_WRITE_MAX_BYTES = 256 * 1024;

async function ensureDir(dir: string, mode: number | undefined, sync: boolean, force = false): Promise<void> {
  if (!force && made.has(dir)) return;
  if (sync) fs.mkdirSync(dir, { recursive: true, mode });
  else await fsp.mkdir(dir, { recursive: true, mode });
  if (made.size >= MADE_DIRS_MAX) made.clear();
  made.add(dir);
}

export interface WriteFileOptions {
  /** Mode of the file (default 0o666 less the umask). */
  mode?: number;
  /** Mode of folders made for it (default 0o777 less the umask). */
  dirMode?: number;
}

/**
 * Write beside and rename, so a reader or a killed process never sees half a file and a retry replaces it whole.
 * Should the folder have vanished (cleaned up underneath), the write's ENOENT makes it again.
 */
export async function writeFileAtomic(
  file: string,
  data: string | Buffer,
  options: WriteFileOptions = {},
): Promise<void> {
  const dir = path.dirname(file);
  const sync = (typeof data === 'string' ? Buffer.byteLength(data) : data.length) <= SYNC_WRITE_MAX_BYTES;
  await ensureDir(dir, options.dirMode, sync);
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  const write = () =>
    sync
      ? fs.writeFileSync(tmp, data, { mode: options.mode })
      : fsp.writeFile(tmp, data, { mode: options.mode });
  try {
    await write();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    await ensureDir(dir, options.dirMode, sync, true);
    await write();
  }
  if (sync) fs.renameSync(tmp, file);
  else await fsp.rename(tmp, file);
}

/** The file's bytes, or undefined when it does not exist. */
export function readFileIfExists(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}
