import { createRequire } from 'node:module';
import { NotSupportedError, TributaryError, toError } from '../platform/errors';
import { decodeJpegDct } from './jpeg-dct';
import type { PixelInfo } from './pixels';

/**
 * Decoders for the compressed transfer syntaxes archives hold most: for monochrome 8- and 16-bit images JPEG Lossless
 * (Process 14, .57 and its first-order prediction .70; a pure-JS decoder), JPEG-LS lossless and near-lossless (.80,
 * .81; CharLS in WebAssembly) and JPEG 2000 (.90, .91; OpenJPEG in WebAssembly); and JPEG Baseline (.50, 8-bit,
 * monochrome or colour, as ultrasound mostly is; jpeg-js), whose colour comes out RGB (decodedPhotometric). Frames come
 * out as native little-endian bytes, as pixels.ts gives RLE and uncompressed ones; the caller writes its result
 * uncompressed. The WebAssembly modules start asynchronously, once per process: loadFrameDecoders() before decoding.
 * JPEG Extended (.51, 8- or 12-bit DCT, as older CT, MR and PET archives hold it) is decoded for monochrome images by
 * jpeg-dct.ts.
 *
 * Colour JPEG 2000 and JPEG-LS (8- and 16-bit, as ultrasound and secondary captures archive them) come out
 * pixel-interleaved; JPEG 2000's reversible and irreversible colour transforms (YBR_RCT, YBR_ICT) are undone by OpenJPEG,
 * so those frames are RGB (decodedPhotometric).
 *
 * Not here: colour JPEG Extended and JPEG Lossless.
 */

export const JPEG_BASELINE = '1.2.840.10008.1.2.4.50';
export const JPEG_EXTENDED = '1.2.840.10008.1.2.4.51';
export const JPEG_LOSSLESS = '1.2.840.10008.1.2.4.57';
export const JPEG_LOSSLESS_SV1 = '1.2.840.10008.1.2.4.70';
export const JPEG_LS_LOSSLESS = '1.2.840.10008.1.2.4.80';
export const JPEG_LS_NEAR_LOSSLESS = '1.2.840.10008.1.2.4.81';
export const JPEG_2000_LOSSLESS = '1.2.840.10008.1.2.4.90';
export const JPEG_2000 = '1.2.840.10008.1.2.4.91';

const COMPRESSED = new Set([
  JPEG_EXTENDED,
  JPEG_LOSSLESS,
  JPEG_LOSSLESS_SV1,
  JPEG_LS_LOSSLESS,
  JPEG_LS_NEAR_LOSSLESS,
  JPEG_2000_LOSSLESS,
  JPEG_2000,
]);

/** Emscripten/embind decoders of the Cornerstone codec packages (the part this module calls). */
interface WasmDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  decode(): void;
  getDecodedBuffer(): Uint8Array;
  getFrameInfo(): { width: number; height: number; bitsPerSample: number; componentCount: number };
  delete(): void;
}
type WasmModule = Record<string, new () => WasmDecoder>;
type LosslessDecoder = { decompress(buffer: ArrayBuffer, offset: number, length: number): ArrayBuffer };
type BaselineDecode = (
  jpeg: Uint8Array,
  options: { formatAsRGBA: boolean; useTArray: boolean; maxMemoryUsageInMB: number },
) => { width: number; height: number; data: Uint8Array };

/** The transfer syntaxes whose colour frames the decoders here give. */
const COLOUR = new Set([
  JPEG_BASELINE,
  JPEG_LS_LOSSLESS,
  JPEG_LS_NEAR_LOSSLESS,
  JPEG_2000_LOSSLESS,
  JPEG_2000,
]);

/**
 * The photometric interpretation of decoded frames: a colour JPEG Baseline frame is decoded to RGB whatever the header
 * said (YBR_FULL_422, YBR_FULL), and so is a JPEG 2000 frame whose codestream applied a colour transform (YBR_RCT,
 * YBR_ICT: PS3.5 8.2.4); anything else is as the header says.
 */
export function decodedPhotometric(transferSyntaxUid: string, info: PixelInfo): string {
  if (info.samplesPerPixel !== 3) return info.photometric;
  if (transferSyntaxUid === JPEG_BASELINE) return 'RGB';
  if (
    (transferSyntaxUid === JPEG_2000_LOSSLESS || transferSyntaxUid === JPEG_2000) &&
    (info.photometric === 'YBR_RCT' || info.photometric === 'YBR_ICT')
  )
    return 'RGB';
  return info.photometric;
}

export interface FrameDecoders {
  decode(transferSyntaxUid: string, frame: Buffer, info: PixelInfo, where: string): Buffer;
}

let loading: Promise<FrameDecoders> | undefined;

export function loadFrameDecoders(): Promise<FrameDecoders> {
  return (loading ??= load().catch((e: unknown) => {
    loading = undefined;
    throw e;
  }));
}

/** Whether a frame of this transfer syntax and shape can be decoded here. */
export function canDecodeCompressed(transferSyntaxUid: string, info: PixelInfo): boolean {
  if (transferSyntaxUid === JPEG_BASELINE)
    return info.bitsAllocated === 8 && (info.samplesPerPixel === 1 || info.samplesPerPixel === 3);
  return (
    COMPRESSED.has(transferSyntaxUid) &&
    (info.samplesPerPixel === 1 || (info.samplesPerPixel === 3 && COLOUR.has(transferSyntaxUid))) &&
    (info.bitsAllocated === 8 || info.bitsAllocated === 16)
  );
}

async function load(): Promise<FrameDecoders> {
  const require = createRequire(import.meta.url);
  // OpenJPEG logs every header it reads on stdout: quiet, errors come back as exceptions.
  const quiet = { print: () => {}, printErr: () => {} };
  const openjpeg = (await (
    require('@cornerstonejs/codec-openjpeg/decodewasmjs') as (o: object) => Promise<WasmModule>
  )(quiet)) as WasmModule;
  const charls = (await (
    require('@cornerstonejs/codec-charls/decodewasmjs') as (o: object) => Promise<WasmModule>
  )(quiet)) as WasmModule;
  const { Decoder: Lossless } = require('jpeg-lossless-decoder-js') as { Decoder: new () => LosslessDecoder };
  const { decode: decodeBaseline } = require('jpeg-js') as { decode: BaselineDecode };

  /** A JPEG of another size than the DICOM header says is no frame of this image. */
  const assertJpegSize = (image: { width: number; height: number }, info: PixelInfo, where: string) => {
    if (image.width !== info.columns || image.height !== info.rows)
      throw new TributaryError(
        `${where}: the JPEG is ${image.width}x${image.height}, the header says ${info.columns}x${info.rows}`,
        { code: 'structure', location: '(7FE0,0010)', nonRetryable: true },
      );
  };

  /** jpeg-js gives three samples per pixel, a grey image's three equal: one is kept for monochrome. */
  const viaJpegJs = (frame: Buffer, info: PixelInfo, where: string): Buffer => {
    const image = decodeBaseline(frame, { formatAsRGBA: false, useTArray: true, maxMemoryUsageInMB: 1024 });
    assertJpegSize(image, info, where);
    if (info.samplesPerPixel === 3) return Buffer.from(image.data);
    const grey = Buffer.alloc(image.width * image.height);
    for (let i = 0; i < grey.length; i++) grey[i] = image.data[i * 3];
    return grey;
  };

  /** 12-bit samples go out as 16-bit words; an 8-bit image in 16-bit words is widened, as BitsAllocated says. */
  const viaDct = (frame: Buffer, info: PixelInfo, where: string): Buffer => {
    const image = decodeJpegDct(frame);
    assertJpegSize(image, info, where);
    if (info.bitsAllocated === 8) {
      if (image.precision > 8)
        throw new TributaryError(`${where}: a ${image.precision}-bit JPEG in 8-bit pixel data`, {
          code: 'structure',
          location: '(0028,0100)',
          nonRetryable: true,
        });
      return Buffer.from(Uint8Array.from(image.samples));
    }
    const out = Buffer.alloc(image.samples.length * 2);
    for (let i = 0; i < image.samples.length; i++) out.writeUInt16LE(image.samples[i], i * 2);
    return out;
  };

  const viaWasm = (Decoder: new () => WasmDecoder, frame: Buffer, info: PixelInfo, where: string): Buffer => {
    const decoder = new Decoder();
    try {
      decoder.getEncodedBuffer(frame.length).set(frame);
      decoder.decode();
      const shape = decoder.getFrameInfo();
      if (
        shape.width !== info.columns ||
        shape.height !== info.rows ||
        shape.componentCount !== info.samplesPerPixel
      )
        throw new TributaryError(
          `${where}: the codestream is ${shape.width}x${shape.height}x${shape.componentCount}, the header says ${info.columns}x${info.rows}x${info.samplesPerPixel}`,
          { code: 'structure', location: '(7FE0,0010)', nonRetryable: true },
        );
      // A copy: the decoder's buffer is WebAssembly memory, reused by the next frame.
      return Buffer.from(decoder.getDecodedBuffer());
    } finally {
      decoder.delete();
    }
  };

  return {
    decode(transferSyntaxUid, frame, info, where) {
      if (!canDecodeCompressed(transferSyntaxUid, info))
        throw new NotSupportedError(
          `${where}: decoding transfer syntax ${transferSyntaxUid} with SamplesPerPixel ${info.samplesPerPixel}, BitsAllocated ${info.bitsAllocated}`,
        );
      let out: Buffer;
      try {
        if (transferSyntaxUid === JPEG_2000_LOSSLESS || transferSyntaxUid === JPEG_2000)
          out = viaWasm(openjpeg.J2KDecoder, frame, info, where);
        else if (transferSyntaxUid === JPEG_LS_LOSSLESS || transferSyntaxUid === JPEG_LS_NEAR_LOSSLESS)
          out = viaWasm(charls.JpegLSDecoder, frame, info, where);
        else if (transferSyntaxUid === JPEG_BASELINE) out = viaJpegJs(frame, info, where);
        else if (transferSyntaxUid === JPEG_EXTENDED) out = viaDct(frame, info, where);
        else {
          const own = new Uint8Array(frame).buffer; // a copy: a Buffer may sit inside a shared pool
          out = Buffer.from(new Lossless().decompress(own, 0, own.byteLength));
        }
      } catch (e) {
        if (e instanceof TributaryError) throw e;
        // The codecs throw strings, numbers (a WebAssembly exception pointer) or Errors: one shape, no pixel values.
        throw new TributaryError(
          `${where}: cannot decode ${transferSyntaxUid} pixel data (${toError(e).message})`,
          {
            code: 'structure',
            location: '(7FE0,0010)',
            nonRetryable: true,
          },
        );
      }
      const expected = info.rows * info.columns * info.samplesPerPixel * (info.bitsAllocated / 8);
      if (out.length < expected)
        throw new TributaryError(
          `${where}: decoded ${out.length} bytes of pixel data, expected ${expected}`,
          {
            code: 'structure',
            location: '(7FE0,0010)',
            nonRetryable: true,
          },
        );
      return out.subarray(0, expected);
    },
  };
}
