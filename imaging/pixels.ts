import { TributaryError } from '../platform/errors';
import { asciiNode, findNode, readAscii, readInt, readUint16, setNode, type DicomNode } from './dicom-model';
import { canDecodeCompressed, type FrameDecoders } from './codecs';
import { EXPLICIT_VR_LITTLE_ENDIAN } from './dicom-write';

/**
 * Pixel data in and out: native (uncompressed) and RLE Lossless decoded to native little-endian interleaved frames, and
 * with imaging/codecs.ts's decoders JPEG Baseline, JPEG Lossless, JPEG-LS and JPEG 2000; frames written back as native
 * pixel data.
 * Other encapsulated syntaxes are not decoded here (callers fail closed).
 */

export const RLE_LOSSLESS = '1.2.840.10008.1.2.5';
export const PIXEL_DATA = 'x7fe00010';

export interface PixelInfo {
  rows: number;
  columns: number;
  samplesPerPixel: number;
  bitsAllocated: number;
  bitsStored: number;
  pixelRepresentation: number;
  photometric: string;
  planarConfiguration: number;
  frames: number;
}

export function readPixelInfo(nodes: DicomNode[]): PixelInfo | undefined {
  if (!findNode(nodes, PIXEL_DATA)) return undefined;
  const rows = readUint16(nodes, 'x00280010');
  const columns = readUint16(nodes, 'x00280011');
  const bitsAllocated = readUint16(nodes, 'x00280100');
  if (!rows || !columns || !bitsAllocated) return undefined;
  return {
    rows,
    columns,
    bitsAllocated,
    samplesPerPixel: readUint16(nodes, 'x00280002') ?? 1,
    bitsStored: readUint16(nodes, 'x00280101') ?? bitsAllocated,
    pixelRepresentation: readUint16(nodes, 'x00280103') ?? 0,
    photometric: readAscii(nodes, 'x00280004') ?? 'MONOCHROME2',
    planarConfiguration: readUint16(nodes, 'x00280006') ?? 0,
    frames: Math.max(1, readInt(nodes, 'x00280008') ?? 1),
  };
}

export function frameBytes(info: PixelInfo): number {
  return info.rows * info.columns * info.samplesPerPixel * (info.bitsAllocated / 8);
}

/**
 * Whether this module can decode the pixel data of a file in this transfer syntax; with `decoders` (imaging/codecs.ts,
 * loaded by an async caller), what those decode too (canDecodeCompressed).
 */
export function canDecode(transferSyntaxUid: string, info: PixelInfo, decoders?: FrameDecoders): boolean {
  if (info.bitsAllocated !== 8 && info.bitsAllocated !== 16) return false;
  if (decoders && canDecodeCompressed(transferSyntaxUid, info)) return true;
  return transferSyntaxUid === EXPLICIT_VR_LITTLE_ENDIAN || transferSyntaxUid === RLE_LOSSLESS;
}

/** Decode every frame to native little-endian, interleaved (planar configuration 0) bytes. */
export function decodeFrames(
  nodes: DicomNode[],
  transferSyntaxUid: string,
  info: PixelInfo,
  where: string,
  decoders?: FrameDecoders,
): Buffer[] {
  const node = findNode(nodes, PIXEL_DATA);
  const size = frameBytes(info);
  if (!node)
    throw new TributaryError(`${where}: no pixel data`, { code: 'required', location: '(7FE0,0010)' });
  if (transferSyntaxUid === EXPLICIT_VR_LITTLE_ENDIAN && node.bytes) {
    if (node.bytes.length < size * info.frames) {
      throw new TributaryError(`${where}: pixel data shorter than Rows x Columns x Frames`, {
        code: 'structure',
        location: '(7FE0,0010)',
        nonRetryable: true,
      });
    }
    const frames: Buffer[] = [];
    for (let f = 0; f < info.frames; f++) {
      const raw = node.bytes.subarray(f * size, (f + 1) * size);
      frames.push(
        info.samplesPerPixel > 1 && info.planarConfiguration === 1 ? interleave(raw, info) : Buffer.from(raw),
      );
    }
    return frames;
  }
  if (transferSyntaxUid === RLE_LOSSLESS && node.encapsulated) {
    return splitFrames(node.encapsulated, info.frames).map((f, i) =>
      decodeRleFrame(f, info, `${where} frame ${i + 1}`),
    );
  }
  if (decoders && canDecodeCompressed(transferSyntaxUid, info) && node.encapsulated) {
    return splitFrames(node.encapsulated, info.frames).map((f, i) =>
      decoders.decode(transferSyntaxUid, f, info, `${where} frame ${i + 1}`),
    );
  }
  throw new TributaryError(`${where}: cannot decode pixel data in transfer syntax ${transferSyntaxUid}`, {
    code: 'not-supported',
    location: '(7FE0,0010)',
    nonRetryable: true,
  });
}

/** Replace the pixel data with native frames (planar configuration 0). The file must then be written as Explicit VR
 * Little Endian. */
export function setNativeFrames(nodes: DicomNode[], frames: Buffer[], info: PixelInfo): void {
  const bytes = Buffer.concat(frames);
  setNode(nodes, {
    tag: PIXEL_DATA,
    vr: info.bitsAllocated > 8 ? 'OW' : 'OB',
    bytes: bytes.length % 2 ? Buffer.concat([bytes, Buffer.alloc(1)]) : bytes,
  });
  if (info.samplesPerPixel > 1) {
    const pc = Buffer.alloc(2);
    setNode(nodes, { tag: 'x00280006', vr: 'US', bytes: pc });
  }
  // Decoded colour JPEG is RGB whatever the header said (codecs.ts decodedPhotometric).
  if (readAscii(nodes, 'x00280004') !== info.photometric)
    setNode(nodes, asciiNode('x00280004', 'CS', info.photometric));
}

/** Planar configuration 1 (all of sample 0, then all of sample 1...) to 0 (the samples of each pixel together). */
export function interleave(planar: Buffer, info: PixelInfo): Buffer {
  return regroup(planar, info, true);
}

/** Planar configuration 0 to 1: one plane per sample, each as a frame of one sample per pixel would hold it. */
export function deinterleave(interleaved: Buffer, info: PixelInfo): Buffer {
  return regroup(interleaved, info, false);
}

function regroup(from: Buffer, info: PixelInfo, toInterleaved: boolean): Buffer {
  const bps = info.bitsAllocated / 8;
  const n = info.rows * info.columns;
  const out = Buffer.alloc(from.length);
  for (let s = 0; s < info.samplesPerPixel; s++) {
    for (let p = 0; p < n; p++) {
      const planar = (s * n + p) * bps;
      const pixel = (p * info.samplesPerPixel + s) * bps;
      for (let b = 0; b < bps; b++)
        if (toInterleaved) out[pixel + b] = from[planar + b];
        else out[planar + b] = from[pixel + b];
    }
  }
  return out;
}

/**
 * The fragments of each frame: one fragment per frame, the basic offset table, everything for one frame, or (no
 * table, JPEG family) a new frame at each fragment that starts a codestream, as dicom-parser's
 * createJPEGBasicOffsetTable reads them.
 */
export function splitFrames(enc: { offsetTable: Buffer; fragments: Buffer[] }, frames: number): Buffer[] {
  if (enc.fragments.length === frames) return enc.fragments;
  if (frames === 1) return [Buffer.concat(enc.fragments)];
  if (enc.offsetTable.length >= frames * 4) {
    const all = Buffer.concat(enc.fragments.map((f) => withItemHeader(f)));
    const out: Buffer[] = [];
    for (let i = 0; i < frames; i++) {
      const start = enc.offsetTable.readUInt32LE(i * 4);
      const end = i + 1 < frames ? enc.offsetTable.readUInt32LE((i + 1) * 4) : all.length;
      out.push(stripItemHeaders(all.subarray(start, end)));
    }
    return out;
  }
  const starts = enc.fragments.flatMap((f, i) => (startsCodestream(f) ? [i] : []));
  if (starts.length === frames && starts[0] === 0)
    return starts.map((start, i) => Buffer.concat(enc.fragments.slice(start, starts[i + 1])));
  throw new TributaryError('cannot tell which fragments belong to which frame (no basic offset table)', {
    code: 'not-supported',
    location: '(7FE0,0010)',
    nonRetryable: true,
  });
}

/** JPEG and JPEG-LS start with SOI (FFD8), a JPEG 2000 codestream with SOC then SIZ (FF4F FF51). */
function startsCodestream(f: Buffer): boolean {
  return (
    f.length >= 4 && f[0] === 0xff && (f[1] === 0xd8 || (f[1] === 0x4f && f[2] === 0xff && f[3] === 0x51))
  );
}

function withItemHeader(f: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16LE(0xfffe, 0);
  h.writeUInt16LE(0xe000, 2);
  h.writeUInt32LE(f.length, 4);
  return Buffer.concat([h, f]);
}

function stripItemHeaders(b: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  while (at + 8 <= b.length) {
    const len = b.readUInt32LE(at + 4);
    parts.push(b.subarray(at + 8, at + 8 + len));
    at += 8 + len;
  }
  return Buffer.concat(parts);
}

/** PS3.5 Annex G: a 64-byte header of segment offsets, then PackBits segments, most significant byte first. */
export function decodeRleFrame(frame: Buffer, info: PixelInfo, where: string): Buffer {
  const bps = info.bitsAllocated / 8;
  const segments = frame.readUInt32LE(0);
  if (segments !== bps * info.samplesPerPixel) {
    throw new TributaryError(`${where}: RLE segment count does not match the pixel description`, {
      code: 'structure',
      location: '(7FE0,0010)',
    });
  }
  const n = info.rows * info.columns;
  const out = Buffer.alloc(n * info.samplesPerPixel * bps);
  for (let seg = 0; seg < segments; seg++) {
    const start = frame.readUInt32LE(4 + seg * 4);
    const end = seg + 1 < segments ? frame.readUInt32LE(8 + seg * 4) : frame.length;
    const s = Math.floor(seg / bps);
    const byteInSample = bps - 1 - (seg % bps); // segment 0 of a sample is its most significant byte
    let p = 0;
    let i = start;
    while (i < end && p < n) {
      const h = frame.readInt8(i++);
      if (h >= 0) {
        for (let k = 0; k <= h && p < n; k++)
          out[(p++ * info.samplesPerPixel + s) * bps + byteInSample] = frame[i++];
      } else if (h !== -128) {
        const v = frame[i++];
        for (let k = 0; k < 1 - h && p < n; k++)
          out[(p++ * info.samplesPerPixel + s) * bps + byteInSample] = v;
      }
    }
    if (p < n)
      throw new TributaryError(`${where}: RLE segment ends early`, {
        code: 'structure',
        location: '(7FE0,0010)',
      });
  }
  return out;
}

/** Set every sample inside the regions (clipped to the frame) to zero. */
export function maskFrame(
  frame: Buffer,
  info: PixelInfo,
  regions: { x: number; y: number; width: number; height: number }[],
): void {
  const bytesPerPixel = info.samplesPerPixel * (info.bitsAllocated / 8);
  for (const r of regions) {
    const x0 = Math.max(0, r.x);
    const y0 = Math.max(0, r.y);
    const x1 = Math.min(info.columns, r.x + r.width);
    const y1 = Math.min(info.rows, r.y + r.height);
    if (x1 <= x0 || y1 <= y0) continue;
    for (let y = y0; y < y1; y++)
      frame.fill(0, (y * info.columns + x0) * bytesPerPixel, (y * info.columns + x1) * bytesPerPixel);
  }
}
