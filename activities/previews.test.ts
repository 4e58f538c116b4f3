import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { workItemPreviewSchema } from '../schemas/work-item';
import { PREVIEWS_PER_STUDY, prunePreviews, writeStudyPreviews } from './previews';
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
      'rtdose.dcm', // 32-bit dose grid: no picture of it, left out
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
      expect(p.ref).toMatch(/^inst\/[0-9a-f]{24}\/[0-9a-f]{16}\/\d\.png$/);
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
    const [doseGrid] = await stage(['rtdose.dcm']);
    expect(
      await writeStudyPreviews({
        store,
        root: previewRoot,
        institution: 'inst',
        itemId: 'inst:imaging:ImagingStudy/none',
        instanceKeys: [doseGrid],
      }),
    ).toEqual([]);
  });

  it("gives a corrected study a folder of its own and leaves the queued version's pictures as they were", async () => {
    const itemId = 'inst:imaging:ImagingStudy/corrected';
    const write = async (files: string[]) =>
      writeStudyPreviews({
        store,
        root: previewRoot,
        institution: 'inst',
        itemId,
        instanceKeys: await stage(files),
      });
    const first = await write(['CT_small.dcm', 'MR_small.dcm', 'MR_small_RLE.dcm']);
    const before = first.map((p) => fs.readFileSync(path.join(previewRoot, p.ref)));
    const corrected = await write(['MR_small_jpeg_ls_lossless.dcm']);
    const folderOf = (ref: string) => ref.slice(0, ref.lastIndexOf('/'));
    expect(folderOf(corrected[0].ref)).not.toBe(folderOf(first[0].ref));
    // Same item, so the same item folder: only the version differs.
    expect(folderOf(folderOf(corrected[0].ref))).toBe(folderOf(folderOf(first[0].ref)));
    expect(first.map((p) => fs.readFileSync(path.join(previewRoot, p.ref)))).toEqual(before);
    expect(fs.readdirSync(path.join(previewRoot, folderOf(first[0].ref))).sort()).toEqual(
      first.map((p) => p.ref.slice(p.ref.lastIndexOf('/') + 1)).sort(),
    );
  });
});

describe('prunePreviews', () => {
  const png = (file: string, ageMinutes: number) => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, PNG);
    const t = new Date(Date.now() - ageMinutes * 60_000);
    fs.utimesSync(file, t, t);
    fs.utimesSync(path.dirname(file), t, t);
  };

  it('removes old versions no item refers to, keeps referenced and recent ones, and touches nothing else', async () => {
    const r = fs.mkdtempSync(path.join(root, 'prune-'));
    const item = 'a'.repeat(24);
    const other = 'b'.repeat(24);
    png(path.join(r, 'inst', item, '1111111111111111', '0.png'), 120); // the stored version
    png(path.join(r, 'inst', item, '1111111111111111', '1.png'), 120);
    png(path.join(r, 'inst', item, '2222222222222222', '0.png'), 120); // replaced two hours ago
    png(path.join(r, 'inst', item, '2222222222222222', '0.png.123.ab12cd34.tmp'), 120);
    png(path.join(r, 'inst', item, '3333333333333333', '0.png'), 5); // written, its enqueue not yet committed
    png(path.join(r, 'inst', other, '0.png'), 120); // from before version folders, replaced since
    png(path.join(r, 'inst', other, '1.png'), 120);
    png(path.join(r, 'inst', 'notes.txt'), 120); // not the layout: not ours to judge
    png(path.join(r, 'inst', 'c'.repeat(24), '0.png'), 120); // unversioned and still referenced
    const referenced = new Set([
      `inst/${item}/1111111111111111/0.png`,
      `inst/${item}/1111111111111111/1.png`,
      `inst/${'c'.repeat(24)}/0.png`,
    ]);
    const dry = await prunePreviews({ root: r, referenced, graceMs: 60 * 60_000, dryRun: true });
    expect(dry).toEqual({ kept: 2, removed: 2, recent: 1, bytesRemoved: 4 * PNG.length });
    expect(fs.existsSync(path.join(r, 'inst', item, '2222222222222222', '0.png'))).toBe(true);

    expect(await prunePreviews({ root: r, referenced, graceMs: 60 * 60_000 })).toEqual(dry);
    const left = (dir: string) => fs.readdirSync(path.join(r, dir)).sort();
    expect(left(`inst/${item}`)).toEqual(['1111111111111111', '3333333333333333']);
    expect(left(`inst/${item}/1111111111111111`)).toEqual(['0.png', '1.png']);
    expect(fs.existsSync(path.join(r, 'inst', other))).toBe(false);
    expect(left('inst')).toEqual([item, 'c'.repeat(24), 'notes.txt'].sort());
    expect(await prunePreviews({ root: r, referenced, graceMs: 60 * 60_000 })).toEqual({
      kept: 2,
      removed: 0,
      recent: 1,
      bytesRemoved: 0,
    });
    expect(await prunePreviews({ root: path.join(r, 'absent'), referenced, graceMs: 0 })).toEqual({
      kept: 0,
      removed: 0,
      recent: 0,
      bytesRemoved: 0,
    });
  });
});
