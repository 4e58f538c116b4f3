import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { NotSupportedError, TributaryError } from '../platform/errors';
import { loadFrameDecoders, type FrameDecoders } from './codecs';
import { findNode } from './dicom-model';
import { readDicom } from './dicom-read';
import { decodeFrames, PIXEL_DATA, readPixelInfo, splitFrames } from './pixels';
import { SAMPLE_DIR } from './test-support';

/**
 * The compressed syntaxes against pydicom's and dicom-parser's own copies of one image in several encodings: a
 * lossless decode must give the uncompressed copy's pixels byte for byte.
 */
let decoders: FrameDecoders;
beforeAll(async () => {
  decoders = await loadFrameDecoders();
});

function framesOf(name: string): Buffer[] {
  const parsed = readDicom(fs.readFileSync(path.join(SAMPLE_DIR, name)), name);
  const info = readPixelInfo(parsed.nodes)!;
  return decodeFrames(parsed.nodes, parsed.transferSyntaxUid, info, name, decoders);
}

const uint16 = (b: Buffer) => new Uint16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));

describe('compressed pixel data', () => {
  it('JPEG 2000 and JPEG-LS lossless give the uncompressed MR byte for byte', () => {
    const [native] = framesOf('MR_small.dcm');
    expect(framesOf('MR_small_jp2klossless.dcm')[0].equals(native)).toBe(true);
    expect(framesOf('MR_small_jpeg_ls_lossless.dcm')[0].equals(native)).toBe(true);
  });

  it('JPEG Lossless in fragments without an offset table: each frame found by its SOI, equal to the RLE copy', () => {
    const rle = framesOf('extra/dicomParser_CT0012.not_fragmented_bot_rle.dcm');
    const jpeg = framesOf('extra/dicomParser_CT0012.fragmented_no_bot_jpeg_lossless.57.dcm');
    expect(jpeg).toHaveLength(2);
    expect(jpeg.map((f, i) => f.equals(rle[i]))).toEqual([true, true]);
  });

  it('JPEG-LS near-lossless stays within its error bound of the lossless copy', () => {
    const rle = framesOf('extra/dicomParser_CT0012.not_fragmented_bot_rle.dcm');
    const near = framesOf('extra/dicomParser_CT0012.fragmented_no_bot_jpeg_ls.81.dcm');
    const [a, b] = [uint16(near[0]), uint16(rle[0])];
    let max = 0;
    for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
    expect(max).toBeGreaterThan(0);
    expect(max).toBeLessThanOrEqual(3);
  });

  it('a damaged codestream is a structure error naming the file and frame; colour is not supported', () => {
    const parsed = readDicom(fs.readFileSync(path.join(SAMPLE_DIR, 'MR_small_jp2klossless.dcm')), 'x');
    const info = readPixelInfo(parsed.nodes)!;
    const [frame] = splitFrames(findNode(parsed.nodes, PIXEL_DATA)!.encapsulated!, 1);
    const cut = frame.subarray(0, 40);
    let thrown: unknown;
    try {
      decoders.decode(parsed.transferSyntaxUid, cut, info, 'MR_small_jp2klossless.dcm frame 1');
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(TributaryError);
    expect((thrown as TributaryError).message).toMatch(/^MR_small_jp2klossless\.dcm frame 1: /);
    expect(() =>
      decoders.decode(parsed.transferSyntaxUid, frame, { ...info, samplesPerPixel: 3 }, 'rgb'),
    ).toThrow(NotSupportedError);
  });
});
