import sharp from 'sharp';
import { NotSupportedError, TributaryError, toError } from '../platform/errors';
import { findNode, readAscii, trimValue, type DicomNode } from './dicom-model';
import { readDicom } from './dicom-read';
import { decodedPhotometric, JPEG_BASELINE, loadFrameDecoders } from './codecs';
import { canDecode, decodeFrames, readPixelInfo, splitFrames, PIXEL_DATA, type PixelInfo } from './pixels';

/**
 * PNG previews for annotators: each chosen frame windowed to 8 bits (Window Center/Width, else the frame's range,
 * after Rescale Slope/Intercept), contrast-enhanced with CLAHE (sharp, 8-bit only). JPEG Baseline frames are decoded
 * by sharp directly. Run on de-identified files only.
 */

export interface PreviewOptions {
  /** At most this many frames, spread evenly over a multi-frame (cine) image. Default 4. */
  maxFrames?: number;
  clahe?: boolean;
  where?: string;
}

export function chooseFrames(total: number, max: number): number[] {
  if (total <= max) return Array.from({ length: total }, (_, i) => i);
  return Array.from({ length: max }, (_, i) => Math.round((i * (total - 1)) / (max - 1 || 1)));
}

export async function renderPreviews(bytes: Buffer, options: PreviewOptions = {}): Promise<Buffer[]> {
  const where = options.where ?? 'DICOM instance';
  const parsed = readDicom(bytes, where);
  const info = readPixelInfo(parsed.nodes);
  if (!info)
    throw new TributaryError(`${where}: no pixel data to preview`, {
      code: 'required',
      location: '(7FE0,0010)',
      nonRetryable: true,
    });
  const picked = chooseFrames(info.frames, options.maxFrames ?? 4);
  try {
    if (parsed.transferSyntaxUid === JPEG_BASELINE) {
      const enc = findNode(parsed.nodes, PIXEL_DATA)?.encapsulated;
      if (!enc)
        throw new TributaryError(`${where}: JPEG pixel data is not encapsulated`, {
          code: 'structure',
          location: '(7FE0,0010)',
        });
      const frames = splitFrames(enc, info.frames);
      return await Promise.all(picked.map((f) => sharp(frames[f]).png().toBuffer()));
    }
    const decoders = await loadFrameDecoders();
    if (!canDecode(parsed.transferSyntaxUid, info, decoders))
      throw new NotSupportedError(
        `${where}: previews of transfer syntax ${parsed.transferSyntaxUid} with BitsAllocated ${info.bitsAllocated}`,
      );
    const frames = decodeFrames(parsed.nodes, parsed.transferSyntaxUid, info, where, decoders);
    return await Promise.all(
      picked.map((f) =>
        framePng(
          frames[f],
          { ...info, photometric: decodedPhotometric(parsed.transferSyntaxUid, info) },
          parsed.nodes,
          options.clahe ?? true,
          where,
        ),
      ),
    );
  } catch (e) {
    if (e instanceof TributaryError) throw e;
    throw new TributaryError(`${where}: preview failed (${toError(e).message.slice(0, 120)})`, {
      code: 'exception',
      cause: e,
    });
  }
}

function numbers(nodes: DicomNode[], tag: string): number[] {
  const n = findNode(nodes, tag);
  if (!n?.bytes) return [];
  return trimValue(n.bytes.toString('latin1'), n.vr).split('\\').map(Number).filter(Number.isFinite);
}

async function framePng(
  frame: Buffer,
  info: PixelInfo,
  nodes: DicomNode[],
  clahe: boolean,
  where: string,
): Promise<Buffer> {
  const { rows, columns, samplesPerPixel } = info;
  if (samplesPerPixel === 3) {
    if (info.bitsAllocated !== 8 || info.photometric !== 'RGB')
      throw new NotSupportedError(
        `${where}: previews of ${info.photometric} ${info.bitsAllocated}-bit colour`,
      );
    return sharp(frame, { raw: { width: columns, height: rows, channels: 3 } })
      .png()
      .toBuffer();
  }
  const n = rows * columns;
  const values = new Float64Array(n);
  const signed = info.pixelRepresentation === 1;
  const shift = 32 - info.bitsStored;
  for (let i = 0; i < n; i++) {
    let v = info.bitsAllocated === 16 ? frame.readUInt16LE(i * 2) : frame[i];
    v = signed ? (v << shift) >> shift : v & ((1 << info.bitsStored) - 1 || 0xffff);
    values[i] = v;
  }
  const slope = numbers(nodes, 'x00281053')[0] ?? 1;
  const intercept = numbers(nodes, 'x00281052')[0] ?? 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    values[i] = values[i] * slope + intercept;
    if (values[i] < lo) lo = values[i];
    if (values[i] > hi) hi = values[i];
  }
  const center = numbers(nodes, 'x00281050')[0];
  const width = numbers(nodes, 'x00281051')[0];
  if (center !== undefined && width !== undefined && width > 1) {
    lo = center - width / 2;
    hi = center + width / 2;
  }
  const invert = (readAscii(nodes, 'x00280004') ?? '') === 'MONOCHROME1';
  const out = Buffer.alloc(n);
  const range = hi > lo ? hi - lo : 1;
  for (let i = 0; i < n; i++) {
    const g = Math.max(0, Math.min(255, Math.round(((values[i] - lo) / range) * 255)));
    out[i] = invert ? 255 - g : g;
  }
  let img = sharp(out, { raw: { width: columns, height: rows, channels: 1 } });
  if (clahe)
    img = img.clahe({
      width: Math.max(3, Math.round(columns / 8)),
      height: Math.max(3, Math.round(rows / 8)),
    });
  return img.toColourspace('b-w').png().toBuffer();
}
