import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { workItemPreviewSchema } from '../schemas/work-item';
import { PREVIEWS_PER_STUDY, writeStudyPreviews } from './previews';
import { createFileBlobStore } from './staging';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'previews-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
const store = createFileBlobStore({ root: path.join(root, 'staging'), key: { key: crypto.randomBytes(32) } });
const previewRoot = path.join(root, 'previews');
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

let staged = 0;
async function stage(files: string[]): Promise<string[]> {
  const keys: string[] = [];
  for (const f of files) {
    const key = `img/test/inst/imaging/${String(staged++).padStart(32, '0')}`;
    await store.put(key, fs.readFileSync(path.join('../shared/data/dicom', f)));
    keys.push(key);
  }
  return keys;
}

describe('writeStudyPreviews', () => {
  it('writes PNGs of the study spread over its instances, named from the item id, the same on a retry', async () => {
    const keys = await stage([
      'CT_small.dcm',
      'MR_small.dcm',
      'JPGExtended.dcm', // no decoder here: left out
      'MR_small_RLE.dcm',
      'CT_small.dcm',
      'MR_small_jpeg_ls_lossless.dcm',
    ]);
    const itemId = 'inst:imaging:ImagingStudy/abc';
    const previews = await writeStudyPreviews({
      store,
      root: previewRoot,
      institution: 'inst',
      itemId,
      instanceKeys: keys,
    });
    expect(previews.length).toBeGreaterThanOrEqual(3);
    expect(previews.length).toBeLessThanOrEqual(PREVIEWS_PER_STUDY);
    for (const p of previews) {
      expect(workItemPreviewSchema.parse(p)).toEqual(p);
      expect(p.ref).toMatch(/^inst\/[0-9a-f]{24}\/\d\.png$/);
      expect(p.ref).not.toContain('ImagingStudy');
      expect(fs.readFileSync(path.join(previewRoot, p.ref)).subarray(0, 8)).toEqual(PNG);
    }
    expect(previews.map((p) => p.caption)).toEqual(
      previews.map((_, n) => `image ${n + 1} of ${previews.length}`),
    );
    const again = await writeStudyPreviews({
      store,
      root: previewRoot,
      institution: 'inst',
      itemId,
      instanceKeys: keys,
    });
    expect(again).toEqual(previews);
  });

  it('gives one cine instance several frames, and a study nothing can preview none', async () => {
    const [cine] = await stage(['examples_ybr_color.dcm']);
    const frames = await writeStudyPreviews({
      store,
      root: previewRoot,
      institution: 'inst',
      itemId: 'inst:imaging:ImagingStudy/cine',
      instanceKeys: [cine],
    });
    expect(frames).toHaveLength(PREVIEWS_PER_STUDY);
    const [jpegExtended] = await stage(['JPGExtended.dcm']);
    expect(
      await writeStudyPreviews({
        store,
        root: previewRoot,
        institution: 'inst',
        itemId: 'inst:imaging:ImagingStudy/none',
        instanceKeys: [jpegExtended],
      }),
    ).toEqual([]);
  });
});
