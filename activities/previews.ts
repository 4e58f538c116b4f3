import crypto from 'node:crypto';
import path from 'node:path';
import { chooseFrames, renderPreviews } from '../imaging/preview';
import { TributaryError, toError } from '../platform/errors';
import { writeFileAtomic } from '../platform/files';
import { log } from '../platform/log';
import type { WorkItemPreview } from '../schemas/work-item';
import type { BlobStore } from './staging';

/** PNGs an annotator sees for one imaging study. */
export const PREVIEWS_PER_STUDY = 4;

/**
 * Previews for an ImagingStudy work item: windowed, contrast-enhanced PNGs of the study's published (de-identified,
 * denoised) instances, spread over the study, written under the annotation server's preview root. The folder is
 * named from the item id's hash, never a UID or a value, so a retry rewrites the same files and a corrected study
 * its own. An instance that cannot be previewed (a syntax no decoder here reads) is left out and logged; a study
 * with none becomes an item without previews, as before.
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
  const folder = `${options.institution}/${crypto.createHash('sha256').update(options.itemId).digest('hex').slice(0, 24)}`;
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
  const previews: WorkItemPreview[] = [];
  for (const [n, png] of pngs.entries()) {
    const ref = `${folder}/${n}.png`;
    await writeFileAtomic(path.join(options.root, ...ref.split('/')), png);
    previews.push({ ref, caption: `image ${n + 1} of ${pngs.length}` });
  }
  return previews;
}
