import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { beforeAll, describe, expect, it } from 'vitest';
import { NotSupportedError } from '../platform/errors';
import { canDecodeCompressed, JPEG_EXTENDED, loadFrameDecoders, type FrameDecoders } from './codecs';
import { readDicom } from './dicom-read';
import { decodeJpegDct } from './jpeg-dct';
import { decodeFrames, readPixelInfo } from './pixels';
import { SAMPLE_DIR } from './test-support';

const fixtures = path.join(import.meta.dirname, 'fixtures');
const reference = JSON.parse(
  fs.readFileSync(path.join(fixtures, 'jpeg-extended-reference.json'), 'utf8'),
) as {
  files: Record<
    string,
    { rows: number; columns: number; mean: number; sampledRows: Record<string, number[]> }
  >;
};
/** A grey 37×45 JPEG Baseline with a restart marker every 3 blocks, written by Pillow 13 (libjpeg-turbo). */
const restartJpeg = fs.readFileSync(path.join(fixtures, 'grey-37x45-restart-3.jpg'));

let decoders: FrameDecoders;
beforeAll(async () => {
  decoders = await loadFrameDecoders();
});

describe('JPEG Extended (12-bit DCT)', () => {
  for (const name of Object.keys(reference.files)) {
    it(`decodes ${name} to libjpeg's pixels within the rounding of the inverse DCT`, () => {
      const ref = reference.files[name];
      const parsed = readDicom(fs.readFileSync(path.join(SAMPLE_DIR, name)), name);
      expect(parsed.transferSyntaxUid).toBe(JPEG_EXTENDED);
      const info = readPixelInfo(parsed.nodes)!;
      expect(canDecodeCompressed(JPEG_EXTENDED, info)).toBe(true);
      const [frame] = decodeFrames(parsed.nodes, parsed.transferSyntaxUid, info, name, decoders);
      expect(frame.length).toBe(ref.rows * ref.columns * 2);
      const pixels = new Uint16Array(frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.length));
      let maxDiff = 0;
      let differing = 0;
      let compared = 0;
      for (const [row, values] of Object.entries(ref.sampledRows)) {
        const at = Number(row) * ref.columns;
        values.forEach((v, x) => {
          const d = Math.abs(pixels[at + x] - v);
          maxDiff = Math.max(maxDiff, d);
          if (d) differing++;
          compared++;
        });
      }
      expect(compared).toBeGreaterThan(1000);
      expect(maxDiff).toBeLessThanOrEqual(1);
      expect(differing / compared).toBeLessThan(0.05);
      const mean = pixels.reduce((a, b) => a + b, 0) / pixels.length;
      expect(Math.abs(mean - ref.mean)).toBeLessThan(0.05);
    });
  }

  it('follows restart markers and partial edge blocks, and reads an 8-bit SOF1 frame as its baseline twin', () => {
    const require = createRequire(import.meta.url);
    const jpegJs = require('jpeg-js') as {
      decode(d: Uint8Array, o: object): { width: number; height: number; data: Uint8Array };
    };
    const theirs = jpegJs.decode(restartJpeg, { formatAsRGBA: false, useTArray: true });
    const ours = decodeJpegDct(restartJpeg);
    expect([ours.width, ours.height, ours.precision]).toEqual([37, 45, 8]);
    expect([theirs.width, theirs.height]).toEqual([37, 45]);
    let maxDiff = 0;
    for (let i = 0; i < ours.samples.length; i++)
      maxDiff = Math.max(maxDiff, Math.abs(ours.samples[i] - theirs.data[i * 3]));
    expect(maxDiff).toBeLessThanOrEqual(2);
    // The same frame labelled extended sequential (SOF1) is the same image.
    const sof = restartJpeg.indexOf(Buffer.from([0xff, 0xc0]));
    const extended = Buffer.from(restartJpeg);
    extended[sof + 1] = 0xc1;
    expect(decodeJpegDct(extended).samples).toEqual(ours.samples);
  });

  it('refuses what it does not read by name, and broken data with an error', () => {
    const sof = restartJpeg.indexOf(Buffer.from([0xff, 0xc0]));
    const progressive = Buffer.from(restartJpeg);
    progressive[sof + 1] = 0xc2;
    expect(() => decodeJpegDct(progressive)).toThrow(NotSupportedError);
    const colour = Buffer.from(restartJpeg);
    colour[sof + 9] = 3; // three components
    expect(() => decodeJpegDct(colour)).toThrow(/3 components/);
    expect(() => decodeJpegDct(restartJpeg.subarray(0, 200))).toThrow(/ends|runs past|no frame/);
    expect(() => decodeJpegDct(Buffer.from('not a jpeg'))).toThrow(/start-of-image/);
    // The data of a 12-bit image cannot be 8-bit pixel data.
    const name = 'JPGExtended.dcm';
    const parsed = readDicom(fs.readFileSync(path.join(SAMPLE_DIR, name)), name);
    const info = { ...readPixelInfo(parsed.nodes)!, bitsAllocated: 8 };
    expect(() => decodeFrames(parsed.nodes, parsed.transferSyntaxUid, info, name, decoders)).toThrow(
      /12-bit JPEG in 8-bit pixel data/,
    );
  });
});
