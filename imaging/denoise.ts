import crypto from 'node:crypto';
import fs from 'node:fs';
import sharp, { type CreateRaw } from 'sharp';
import { z } from 'zod';
import { parseAtEdge } from '../platform/config';
import { NotSupportedError, TributaryError, toError } from '../platform/errors';
import { asciiNode, findNode, readAscii, setNode, trimValue, type DicomNode } from './dicom-model';
import { readDicom } from './dicom-read';
import { EXPLICIT_VR_LITTLE_ENDIAN, writeDataset } from './dicom-write';
import { decodedPhotometric, loadFrameDecoders } from './codecs';
import { median3x3 } from './median';
import {
  canDecode,
  decodeFrames,
  deinterleave,
  interleave,
  PIXEL_DATA,
  readPixelInfo,
  setNativeFrames,
  type PixelInfo,
} from './pixels';

/**
 * Denoising at full bit depth: 3x3 median (hand-written, typed arrays) or gaussian (sharp, 16-bit raw in and out),
 * chosen per modality from config/dicom/denoise.json; multi-frame images frame by frame. The output is a derived
 * image: new SOP Instance UID (derived from the source's, so reruns give the same), ImageType DERIVED,
 * DerivationDescription, SourceImageSequence.
 */

const methodSchema = z.discriminatedUnion('method', [
  z.object({ method: z.literal('median') }),
  z.object({ method: z.literal('gaussian'), sigma: z.number().min(0.3).max(10) }),
  z.object({ method: z.literal('none') }),
]);
export type DenoiseMethod = z.infer<typeof methodSchema>;
const configSchema = z.object({
  description: z.string().optional(),
  default: methodSchema,
  modalities: z.record(z.string(), methodSchema),
});
export type DenoiseConfig = z.infer<typeof configSchema>;

// sharp's types lack raw input depth (supported at run time since 0.33).
type SharpRaw = CreateRaw & { depth?: 'uchar' | 'ushort' };

export function loadDenoiseConfig(file?: string): DenoiseConfig {
  const source = file ?? new URL('../config/dicom/denoise.json', import.meta.url);
  return parseAtEdge(
    configSchema,
    JSON.parse(fs.readFileSync(source, 'utf8')),
    String(file ?? 'config/dicom/denoise.json'),
  );
}

export interface DenoiseProvenance {
  method: DenoiseMethod;
  modality?: string;
  frames: number;
  bitsAllocated: number;
  sourceSopInstanceUid: string;
  sopInstanceUid: string;
  sourceTransferSyntaxUid: string;
  transferSyntaxUid: string;
  /** No Pixel Data (an SR, an RT plan, a waveform): nothing was denoised, the bytes are the input's. */
  noPixelData?: boolean;
}

export interface DenoiseResult {
  /** The derived DICOM file; the input bytes unchanged when the method is `none`. */
  bytes: Buffer;
  provenance: DenoiseProvenance;
}

export async function denoiseDicom(
  bytes: Buffer,
  options: { config?: DenoiseConfig; where?: string } = {},
): Promise<DenoiseResult> {
  const where = options.where ?? 'DICOM instance';
  const config = options.config ?? loadDenoiseConfig();
  const parsed = readDicom(bytes, where);
  const nodes = parsed.nodes;
  const sourceSop = readAscii(nodes, 'x00080018');
  if (!sourceSop)
    throw new TributaryError(`${where}: no SOP Instance UID`, {
      code: 'required',
      location: '(0008,0018)',
      nonRetryable: true,
    });
  const modality = readAscii(nodes, 'x00080060');
  const provenance: DenoiseProvenance = {
    method: { method: 'none' },
    modality,
    frames: 0,
    bitsAllocated: 0,
    sourceSopInstanceUid: sourceSop,
    sopInstanceUid: sourceSop,
    sourceTransferSyntaxUid: parsed.sourceTransferSyntaxUid,
    transferSyntaxUid: parsed.sourceTransferSyntaxUid,
  };
  // A structured report, an RT plan or a waveform has no pixels: the instance goes on as it is.
  if (!findNode(nodes, PIXEL_DATA)) return { bytes, provenance: { ...provenance, noPixelData: true } };
  const info = readPixelInfo(nodes);
  if (!info)
    throw new TributaryError(`${where}: pixel data without Rows, Columns or Bits Allocated`, {
      code: 'required',
      location: '(0028,0010)/(0028,0011)/(0028,0100)',
      nonRetryable: true,
    });
  const method = (modality && config.modalities[modality]) || config.default;
  provenance.method = method;
  provenance.frames = info.frames;
  provenance.bitsAllocated = info.bitsAllocated;
  if (method.method === 'none') return { bytes, provenance };
  const decoders = await loadFrameDecoders();
  // Colour: RGB, or full-resolution YBR, 8- or 16-bit, each channel filtered on its own (a JPEG's colour and JPEG
  // 2000's colour transforms decode to RGB).
  const photometric = decodedPhotometric(parsed.transferSyntaxUid, info);
  if (info.samplesPerPixel !== 1 && !(info.samplesPerPixel === 3 && /^(RGB|YBR_FULL)$/.test(photometric)))
    throw new NotSupportedError(
      `${where}: denoising colour images (SamplesPerPixel ${info.samplesPerPixel}, ${photometric}, BitsAllocated ${info.bitsAllocated})`,
    );
  if (!canDecode(parsed.transferSyntaxUid, info, decoders))
    throw new NotSupportedError(
      `${where}: denoising pixel data in transfer syntax ${parsed.transferSyntaxUid} with BitsAllocated ${info.bitsAllocated}`,
    );

  const frames = decodeFrames(nodes, parsed.transferSyntaxUid, info, where, decoders);
  const out: Buffer[] = [];
  for (const frame of frames) out.push(await denoiseFrame(frame, info, method, where));
  setNativeFrames(nodes, out, { ...info, photometric });

  const sopInstanceUid = derivedUid(sourceSop, method);
  markDerived(nodes, sourceSop, sopInstanceUid, describe(method));
  provenance.sopInstanceUid = sopInstanceUid;
  provenance.transferSyntaxUid = EXPLICIT_VR_LITTLE_ENDIAN;
  return { bytes: writeDataset(nodes, { transferSyntaxUid: EXPLICIT_VR_LITTLE_ENDIAN }), provenance };
}

export function describe(method: DenoiseMethod): string {
  switch (method.method) {
    case 'median':
      return 'Tributary denoise: 3x3 median, full bit depth';
    case 'gaussian':
      return `Tributary denoise: gaussian sigma ${method.sigma}, full bit depth`;
    case 'none':
      return 'none';
  }
}

/** One frame, native little endian, one sample per pixel. Signed data is offset to unsigned order and back so both
 * filters see the true ordering. */
export async function denoiseFrame(
  frame: Buffer,
  info: PixelInfo,
  method: DenoiseMethod,
  where: string,
): Promise<Buffer> {
  const { rows, columns } = info;
  if (info.samplesPerPixel === 3) {
    // One channel at a time (interleaved in, interleaved out), a sample being one byte or two.
    const planar = deinterleave(frame, info);
    const size = planar.length / 3;
    const grey = { ...info, samplesPerPixel: 1, pixelRepresentation: 0 };
    const done = await Promise.all(
      [0, 1, 2].map((c) => denoiseFrame(planar.subarray(c * size, (c + 1) * size), grey, method, where)),
    );
    return interleave(Buffer.concat(done), info);
  }
  if (info.bitsAllocated === 8) {
    const px = new Uint8Array(frame.buffer, frame.byteOffset, frame.length);
    const signed = info.pixelRepresentation === 1;
    const src = signed ? px.map((v) => v ^ 0x80) : px;
    let res: Uint8Array;
    if (method.method === 'median') res = median3x3(src, columns, rows);
    else
      res = await sharpBlur(
        Buffer.from(src.buffer, src.byteOffset, src.length),
        columns,
        rows,
        'uchar',
        method.method === 'gaussian' ? method.sigma : 1,
        where,
      );
    return Buffer.from(signed ? res.map((v) => v ^ 0x80) : res);
  }
  const copy = Buffer.from(frame); // aligned copy
  const px = new Uint16Array(copy.buffer, copy.byteOffset, copy.length / 2);
  const signed = info.pixelRepresentation === 1;
  if (signed) {
    // Sign-extend from BitsStored, then flip the top bit of the 16-bit word: unsigned order equals signed order.
    const shift = 16 - info.bitsStored;
    for (let i = 0; i < px.length; i++) px[i] = (((px[i] << shift) << 16) >> (16 + shift)) ^ 0x8000;
  }
  let res: Uint16Array;
  if (method.method === 'median') res = median3x3(px, columns, rows);
  else {
    const out = await sharpBlur(
      Buffer.from(px.buffer, px.byteOffset, px.byteLength),
      columns,
      rows,
      'ushort',
      method.method === 'gaussian' ? method.sigma : 1,
      where,
    );
    res = new Uint16Array(out.buffer, out.byteOffset, out.length / 2);
  }
  const result = Buffer.alloc(res.length * 2);
  // Signed values go back as sign-extended 16-bit two's complement.
  for (let i = 0; i < res.length; i++) result.writeUInt16LE(signed ? res[i] ^ 0x8000 : res[i], i * 2);
  return result;
}

async function sharpBlur(
  data: Buffer,
  width: number,
  height: number,
  depth: 'uchar' | 'ushort',
  sigma: number,
  where: string,
): Promise<Uint8Array> {
  try {
    const img = sharp(data, {
      raw: { width, height, channels: 1, ...(depth === 'ushort' ? { depth } : {}) } as SharpRaw,
    });
    // Ask for a grey colourspace: raw single-channel input otherwise comes back as 3 channels.
    const out = await img
      .blur(sigma)
      .toColourspace(depth === 'ushort' ? 'grey16' : 'b-w')
      .raw({ depth })
      .toBuffer({ resolveWithObject: true });
    if (out.info.channels !== 1 || out.data.length !== data.length) {
      throw new TributaryError(
        `${where}: sharp returned ${out.info.channels} channels, ${out.data.length} bytes`,
        { code: 'exception' },
      );
    }
    // Copy to an aligned buffer so it can be viewed as 16-bit.
    return new Uint8Array(Buffer.from(out.data));
  } catch (e) {
    throw new TributaryError(`${where}: gaussian denoising failed (${toError(e).message.slice(0, 120)})`, {
      code: 'exception',
      cause: e,
    });
  }
}

function derivedUid(source: string, method: DenoiseMethod): string {
  const digest = crypto
    .createHash('sha256')
    .update(`tributary-derived\0${source}\0${JSON.stringify(method)}`)
    .digest();
  return '2.25.' + BigInt('0x' + digest.subarray(0, 16).toString('hex')).toString(10);
}

function markDerived(nodes: DicomNode[], sourceSop: string, sop: string, description: string): void {
  const imageType = findNode(nodes, 'x00080008');
  const values = imageType?.bytes
    ? trimValue(imageType.bytes.toString('latin1'), 'CS').split('\\')
    : ['ORIGINAL', 'PRIMARY'];
  values[0] = 'DERIVED';
  if (values.length < 2) values.push('SECONDARY');
  setNode(nodes, asciiNode('x00080008', 'CS', values.join('\\')));
  setNode(nodes, asciiNode('x00082111', 'ST', description));
  const sopClass = readAscii(nodes, 'x00080016') ?? '';
  setNode(nodes, {
    tag: 'x00082112',
    vr: 'SQ',
    items: [[asciiNode('x00081150', 'UI', sopClass), asciiNode('x00081155', 'UI', sourceSop)]],
  });
  setNode(nodes, asciiNode('x00080018', 'UI', sop));
}
