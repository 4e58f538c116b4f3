import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { NotSupportedError, TributaryError } from '../platform/errors';
import sharp from 'sharp';
import { decodedPhotometric, JPEG_BASELINE, loadFrameDecoders, type FrameDecoders } from './codecs';
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

  it('JPEG Baseline: colour decodes to RGB, as sharp (libjpeg-turbo) decodes it, within its rounding and upsampling', async () => {
    const parsed = readDicom(fs.readFileSync(path.join(SAMPLE_DIR, 'examples_ybr_color.dcm')), 'us');
    const info = readPixelInfo(parsed.nodes)!;
    expect([parsed.transferSyntaxUid, info.photometric, info.frames]).toEqual([
      JPEG_BASELINE,
      'YBR_FULL_422',
      30,
    ]);
    expect(decodedPhotometric(parsed.transferSyntaxUid, info)).toBe('RGB');
    const [frame] = splitFrames(findNode(parsed.nodes, PIXEL_DATA)!.encapsulated!, info.frames);
    const ours = decoders.decode(JPEG_BASELINE, frame, info, 'us frame 1');
    const theirs = await sharp(frame).raw().toBuffer();
    expect(ours.length).toBe(240 * 320 * 3);
    let sum = 0;
    for (let i = 0; i < ours.length; i++) sum += Math.abs(ours[i] - theirs[i]);
    expect(sum / ours.length).toBeLessThan(1);
    // Monochrome: one sample per pixel.
    const grey = Buffer.from(Array.from({ length: 32 * 64 }, (_, i) => (i % 64) * 3 + Math.floor(i / 64)));
    const jpeg = await sharp(grey, { raw: { width: 64, height: 32, channels: 1 } })
      .jpeg({ quality: 100 })
      .toBuffer();
    const monoInfo = {
      ...info,
      rows: 32,
      columns: 64,
      samplesPerPixel: 1,
      frames: 1,
      photometric: 'MONOCHROME2',
    };
    const mono = decoders.decode(JPEG_BASELINE, jpeg, monoInfo, 'grey');
    const reference = await sharp(jpeg).raw().toBuffer();
    expect(mono.length).toBe(32 * 64);
    // sharp gives the grey JPEG as three equal samples per pixel
    expect(Math.max(...[...mono].map((v, i) => Math.abs(v - reference[i * 3])))).toBeLessThanOrEqual(2);
  });

  it('colour JPEG 2000 and JPEG-LS decode to RGB, byte for byte as pydicom does', () => {
    // Reference digests: pydicom 3.0.2, pixel_array(raw=True) with pylibjpeg-openjpeg 2.6.0 for JPEG 2000 (which
    // undoes the reversible colour transform, as OpenJPEG here does) and pyjpegls 1.5.1 (CharLS) for JPEG-LS.
    // Before 2026-12-06 both were refused as not supported, and every colour JPEG 2000 ultrasound was quarantined.
    const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
    for (const [name, photometric, digest] of [
      ['examples_jpeg2k.dcm', 'YBR_RCT', 'e16892020c73095e42ff4cf7368de5206f11012e25feaed53cc2bc614602bb9a'],
      [
        'SC_rgb_jls_lossy_line.dcm',
        'RGB',
        'bd5344c0a46bc6c0869921680aa72c1ee344be34079d9b9c5b421336f24d798f',
      ],
    ]) {
      const parsed = readDicom(fs.readFileSync(path.join(SAMPLE_DIR, name)), name);
      const info = readPixelInfo(parsed.nodes)!;
      expect([info.samplesPerPixel, info.photometric], name).toEqual([3, photometric]);
      expect(decodedPhotometric(parsed.transferSyntaxUid, info), name).toBe('RGB');
      const [frame] = framesOf(name);
      expect(frame.length, name).toBe(info.rows * info.columns * 3);
      expect(sha256(frame), name).toBe(digest);
    }
  });

  it('16-bit colour JPEG 2000 and JPEG-LS lossless give their pixels back, interleaved, little endian', () => {
    // Fixtures written by pydicom 3.0.2 (pylibjpeg-openjpeg 2.6.0, pyjpegls 1.5.1) from a 12-bit RGB gradient,
    // value (131 row + 17 column + 1000 sample) mod 4096; no real sample is 16-bit colour.
    for (const name of ['rgb16-37x45-j2k-lossless.dcm', 'rgb16-37x45-jls-lossless.dcm']) {
      const parsed = readDicom(fs.readFileSync(path.join(import.meta.dirname, 'fixtures', name)), name);
      const info = readPixelInfo(parsed.nodes)!;
      const [frame] = decodeFrames(parsed.nodes, parsed.transferSyntaxUid, info, name, decoders);
      const words = uint16(frame);
      expect(words.length, name).toBe(37 * 45 * 3);
      let wrong = 0;
      for (let r = 0; r < 37; r++)
        for (let c = 0; c < 45; c++)
          for (let s = 0; s < 3; s++)
            if (words[(r * 45 + c) * 3 + s] !== (r * 131 + c * 17 + s * 1000) % 4096) wrong++;
      expect(wrong, name).toBe(0);
    }
  });

  it('a damaged codestream is a structure error naming the file and frame; colour JPEG Lossless is not supported', () => {
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
    // A header that says colour over a grey codestream names both.
    expect(() =>
      decoders.decode(parsed.transferSyntaxUid, frame, { ...info, samplesPerPixel: 3 }, 'rgb'),
    ).toThrow(/rgb: the codestream is 64x64x1, the header says 64x64x3/);
    expect(() =>
      decoders.decode('1.2.840.10008.1.2.4.57', frame, { ...info, samplesPerPixel: 3 }, 'rgb'),
    ).toThrow(NotSupportedError);
  });
});
