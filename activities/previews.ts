import crypto from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { chooseFrames, renderPreviews } from '../imaging/preview';
import { TributaryError, toError } from '../platform/errors';
import { writeFileAtomic } from '../platform/files';
import { log } from '../platform/log';
import type { PrunePreviewsResult } from '../schemas/ingest';
import type { WorkItemPreview } from '../schemas/work-item';
import type { BlobStore } from './staging';

/** PNGs an annotator sees for one imaging study. */
export const PREVIEWS_PER_STUDY = 4;

const itemFolder = (itemId: string) => crypto.createHash('sha256').update(itemId).digest('hex').slice(0, 24);

/**
 * Previews for an ImagingStudy work item: windowed, contrast-enhanced PNGs of the study's published (de-identified,
 * denoised) instances, spread over the study, written under the annotation server's preview root, in
 * `<institution>/<item>/<version>/`: the item folder is named from a hash of the item id, never a UID or a value, and
 * the version folder from a hash of the pictures. A retry renders the same pictures into the same files. A corrected
 * study gets a folder of its own, because the store keeps the queued version once an annotator has begun it, and that
 * version's labels were given to its own pictures. Versions no stored item refers to are removed by
 * `prunePreviews`. An instance that cannot be previewed (a syntax no decoder here reads) is left out and logged; a
 * study with none becomes an item without previews, as before.
 */
export async function writeStudyPreviews(options: {
  store: BlobStore;
  root: string;
  institution: string;
  itemId: string;
  /** Staging keys of the study's instances, in order. */
  instanceKeys: string[];
}): Promise<WorkItemPreview[]> {
  const { store, instanceKeys } = options;
  const pngs: Buffer[] = [];
  // One frame of each of up to four instances; a study of one cine instance gives four of its frames.
  const perInstance = Math.ceil(PREVIEWS_PER_STUDY / Math.max(1, instanceKeys.length));
  for (const i of chooseFrames(instanceKeys.length, PREVIEWS_PER_STUDY)) {
    const bytes = await store.get(instanceKeys[i]);
    try {
      const frames = await renderPreviews(bytes, {
        maxFrames: Math.min(perInstance, PREVIEWS_PER_STUDY - pngs.length),
        where: `instance ${i + 1} of the study`,
      });
      pngs.push(...frames);
    } catch (e) {
      // The instance itself is published; only its picture for annotators is missing. A decoder's or sharp's own
      // error is named by its class (its message may quote the file).
      log.warn('no preview for an instance', {
        institution: options.institution,
        error: e instanceof TributaryError ? e.code : toError(e).name,
      });
    }
    if (pngs.length >= PREVIEWS_PER_STUDY) break;
  }
  if (!pngs.length) return [];
  const version = crypto.createHash('sha256');
  for (const png of pngs) version.update(`${png.length}:`).update(png);
  const folder = `${options.institution}/${itemFolder(options.itemId)}/${version.digest('hex').slice(0, 16)}`;
  const previews: WorkItemPreview[] = [];
  for (const [n, png] of pngs.entries()) {
    const ref = `${folder}/${n}.png`;
    await writeFileAtomic(path.join(options.root, ...ref.split('/')), png);
    previews.push({ ref, caption: `image ${n + 1} of ${pngs.length}` });
  }
  return previews;
}

export type { PrunePreviewsResult };

/**
 * Remove preview versions that no stored work item refers to: the pictures of a corrected study once its new version
 * has replaced the queued one, and files a crashed write left behind. A version written moments ago may belong to an
 * item whose enqueue has not committed yet, so only versions whose newest file is older than `graceMs` are removed.
 * Files from before versioned folders (`<institution>/<item>/<n>.png`) count as one version of their item. Anything
 * that does not have the layout `writeStudyPreviews` writes is left alone.
 */
export async function prunePreviews(options: {
  root: string;
  /** Every preview ref of every stored item (`QueueStore.previewRefs`), read before the walk starts. */
  referenced: ReadonlySet<string>;
  graceMs: number;
  now?: number;
  dryRun?: boolean;
  /** Called after each item folder with how many were walked (an activity's heartbeat). */
  onFolder?: (done: number) => void;
}): Promise<PrunePreviewsResult> {
  const result: PrunePreviewsResult = { kept: 0, removed: 0, recent: 0, bytesRemoved: 0 };
  let walked = 0;
  const cutoff = (options.now ?? Date.now()) - options.graceMs;
  // A ref's folder: everything before its file name. Kept versions are those some ref lives in.
  const referencedFolders = new Set([...options.referenced].map((ref) => ref.slice(0, ref.lastIndexOf('/'))));
  const dirs = async (dir: string) =>
    (await fsp.readdir(dir, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory());
  for (const inst of await dirs(options.root)) {
    for (const item of await dirs(path.join(options.root, inst.name))) {
      if (!/^[0-9a-f]{24}$/.test(item.name)) continue;
      const itemDir = path.join(options.root, inst.name, item.name);
      const entries = await fsp.readdir(itemDir, { withFileTypes: true });
      const units = entries
        .filter((e) => e.isDirectory() && /^[0-9a-f]{16}$/.test(e.name))
        .map((e) => ({
          folder: `${inst.name}/${item.name}/${e.name}`,
          dir: path.join(itemDir, e.name),
          legacy: false,
        }));
      if (entries.some((e) => e.isFile() && /^\d+\.png($|\.)/.test(e.name)))
        units.push({ folder: `${inst.name}/${item.name}`, dir: itemDir, legacy: true });
      for (const unit of units) {
        const files = (await fsp.readdir(unit.dir, { withFileTypes: true }))
          .filter((e) => e.isFile() && (!unit.legacy || /^\d+\.png($|\.)/.test(e.name)))
          .map((e) => path.join(unit.dir, e.name));
        const stats = await Promise.all(files.map((f) => fsp.stat(f)));
        const newest = Math.max((await fsp.stat(unit.dir)).mtimeMs, ...stats.map((s) => s.mtimeMs));
        if (referencedFolders.has(unit.folder)) result.kept++;
        else if (newest > cutoff) result.recent++;
        else {
          result.removed++;
          result.bytesRemoved += stats.reduce((sum, s) => sum + s.size, 0);
          if (options.dryRun) continue;
          if (unit.legacy) await Promise.all(files.map((f) => fsp.rm(f, { force: true })));
          else await fsp.rm(unit.dir, { recursive: true, force: true });
        }
      }
      if (!options.dryRun) await fsp.rmdir(itemDir).catch(() => undefined); // only when now empty
      options.onFolder?.(++walked);
    }
  }
  return result;
}
