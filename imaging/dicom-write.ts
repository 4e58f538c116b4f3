import { TributaryError } from '../platform/errors';
import { formatTag, normalizeTag, tagElement, tagGroup } from './dicom-dictionary';
import {
  LONG_VRS,
  STRING_VRS,
  TEXT_VRS,
  encodeText,
  encodingForCharset,
  padEven,
  type DicomNode,
} from './dicom-model';

/**
 * PS3.10 writer: a data set in Explicit VR Little Endian (native or encapsulated pixel data) with a new file meta
 * header. Used by the DICOM de-identifier (rewriting read files) and by the synthetic-data generator (writing new
 * files from `DicomElementInput`s).
 */

export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
/** Tributary's implementation class UID: 2.25 + a fixed UUID (PS3.5 B.2). */
export const IMPLEMENTATION_CLASS_UID = '2.25.' + BigInt('0x6d1c0a6e4f2b4c8e9a3d5b7f1e2c4a60').toString(10);
export const IMPLEMENTATION_VERSION_NAME = 'TRIBUTARY_01';

export type DicomValue =
  | string
  | string[]
  | number
  | number[]
  | Buffer
  | Uint8Array
  | DicomElementInput[][]
  | { fragments: Buffer[]; offsetTable?: Buffer };

export interface DicomElementInput {
  /** 'xGGGGEEEE', '(GGGG,EEEE)' or 'GGGGEEEE'. */
  tag: string;
  vr: string;
  /** Strings (multi-valued: an array, or joined with '\'), numbers for binary VRs, raw bytes, SQ items, or
   * `{ fragments }` for encapsulated pixel data. */
  value: DicomValue;
}

export interface WritePart10Input {
  /** Defaults to Explicit VR Little Endian. Compressed syntaxes need Pixel Data given as `{ fragments }`. */
  transferSyntaxUid?: string;
  elements: DicomElementInput[];
}

/** Write a new Part 10 file from element inputs (the generator's entry point). */
export function writePart10(input: WritePart10Input): Buffer {
  const charsetEl = input.elements.find((e) => normalizeTag(e.tag) === 'x00080005');
  const charset = charsetEl ? [charsetEl.value].flat().join('\\') : undefined;
  const encoding = encodingForCharset(charset);
  if (!encoding) {
    throw new TributaryError(
      'Specific Character Set with ISO 2022 code extensions is not supported for writing',
      {
        code: 'not-supported',
        location: '(0008,0005)',
        nonRetryable: true,
      },
    );
  }
  const nodes = input.elements.map((e) => toNode(e, encoding));
  return writeDataset(nodes, { transferSyntaxUid: input.transferSyntaxUid ?? EXPLICIT_VR_LITTLE_ENDIAN });
}

/** Write nodes as a Part 10 file: 128-byte preamble, DICM, new meta group (group length computed), data set. */
export function writeDataset(nodes: DicomNode[], options: { transferSyntaxUid: string }): Buffer {
  const body = nodes.filter((n) => tagGroup(n.tag) !== 0x0002);
  const sopClass = body.find((n) => n.tag === 'x00080016');
  const sopInstance = body.find((n) => n.tag === 'x00080018');
  const meta: DicomNode[] = [
    { tag: 'x00020001', vr: 'OB', bytes: Buffer.from([0, 1]) },
    ...(sopClass?.bytes ? [{ tag: 'x00020002', vr: 'UI', bytes: sopClass.bytes }] : []),
    ...(sopInstance?.bytes ? [{ tag: 'x00020003', vr: 'UI', bytes: sopInstance.bytes }] : []),
    { tag: 'x00020010', vr: 'UI', bytes: padEven(Buffer.from(options.transferSyntaxUid, 'latin1'), 'UI') },
    { tag: 'x00020012', vr: 'UI', bytes: padEven(Buffer.from(IMPLEMENTATION_CLASS_UID, 'latin1'), 'UI') },
    { tag: 'x00020013', vr: 'SH', bytes: padEven(Buffer.from(IMPLEMENTATION_VERSION_NAME, 'latin1'), 'SH') },
  ];
  const metaBytes = encodeNodes(meta);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(metaBytes.length);
  return Buffer.concat([
    Buffer.alloc(128),
    Buffer.from('DICM', 'latin1'),
    encodeElement('x00020000', 'UL', groupLength),
    metaBytes,
    encodeNodes(body),
  ]);
}

/** Encode a data set (sorted by tag) in Explicit VR Little Endian. Group length elements are dropped (retired). */
export function encodeNodes(nodes: DicomNode[]): Buffer {
  const sorted = [...nodes]
    .filter((n) => tagElement(n.tag) !== 0 || tagGroup(n.tag) === 0x0002)
    .sort((a, b) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
  const parts: Buffer[] = [];
  for (let i = 0; i < sorted.length; i++) {
    if (i > 0 && sorted[i].tag === sorted[i - 1].tag) {
      throw new TributaryError(`${formatTag(sorted[i].tag)}: duplicate element in data set`, {
        code: 'structure',
        location: formatTag(sorted[i].tag),
      });
    }
    parts.push(encodeNode(sorted[i]));
  }
  return Buffer.concat(parts);
}

function encodeNode(node: DicomNode): Buffer {
  if (node.items) {
    const items = node.items.map((item) => {
      const body = encodeNodes(item);
      const header = Buffer.alloc(8);
      header.writeUInt16LE(0xfffe, 0);
      header.writeUInt16LE(0xe000, 2);
      header.writeUInt32LE(body.length, 4);
      return Buffer.concat([header, body]);
    });
    return encodeElement(node.tag, 'SQ', Buffer.concat(items));
  }
  if (node.encapsulated) {
    const { offsetTable, fragments } = node.encapsulated;
    const parts = [encodeHeader(node.tag, 'OB', 0xffffffff)];
    for (const f of [offsetTable, ...fragments]) {
      const h = Buffer.alloc(8);
      h.writeUInt16LE(0xfffe, 0);
      h.writeUInt16LE(0xe000, 2);
      const padded = f.length % 2 === 0 ? f : Buffer.concat([f, Buffer.alloc(1)]);
      h.writeUInt32LE(padded.length, 4);
      parts.push(h, padded);
    }
    const end = Buffer.alloc(8);
    end.writeUInt16LE(0xfffe, 0);
    end.writeUInt16LE(0xe0dd, 2);
    parts.push(end);
    return Buffer.concat(parts);
  }
  return encodeElement(node.tag, node.vr, padEven(node.bytes ?? Buffer.alloc(0), node.vr));
}

function encodeHeader(tag: string, vr: string, length: number): Buffer {
  const long = LONG_VRS.has(vr);
  const h = Buffer.alloc(long ? 12 : 8);
  h.writeUInt16LE(tagGroup(tag), 0);
  h.writeUInt16LE(tagElement(tag), 2);
  h.write(vr, 4, 'latin1');
  if (long) h.writeUInt32LE(length, 8);
  else {
    if (length > 0xffff) {
      throw new TributaryError(`${formatTag(tag)}: value too long for VR ${vr}`, {
        code: 'value',
        location: formatTag(tag),
        nonRetryable: true,
      });
    }
    h.writeUInt16LE(length, 6);
  }
  return h;
}

function encodeElement(tag: string, vr: string, value: Buffer): Buffer {
  return Buffer.concat([encodeHeader(tag, vr, value.length), value]);
}

/** Turn a generator's element input into a node, encoding its value for its VR. */
export function toNode(input: DicomElementInput, encoding = 'latin1'): DicomNode {
  const tag = normalizeTag(input.tag);
  const vr = input.vr.toUpperCase();
  const where = formatTag(tag);
  const v = input.value;
  if (vr === 'SQ') {
    if (!Array.isArray(v) || !v.every((item) => Array.isArray(item))) {
      throw new TributaryError(`${where}: SQ value must be an array of items (arrays of elements)`, {
        code: 'value',
        location: where,
      });
    }
    return {
      tag,
      vr,
      items: (v as DicomElementInput[][]).map((item) => item.map((e) => toNode(e, encoding))),
    };
  }
  if (v && typeof v === 'object' && !Array.isArray(v) && 'fragments' in v) {
    return {
      tag,
      vr: 'OB',
      encapsulated: { offsetTable: v.offsetTable ?? Buffer.alloc(0), fragments: v.fragments },
    };
  }
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return { tag, vr, bytes: padEven(Buffer.from(v), vr) };
  if (STRING_VRS.has(vr)) {
    const text = Array.isArray(v) ? v.map(String).join('\\') : String(v);
    const bytes = TEXT_VRS.has(vr) ? encodeText(text, encoding) : Buffer.from(text, 'latin1');
    return { tag, vr, bytes: padEven(bytes, vr) };
  }
  const numbers = (Array.isArray(v) ? v : [v]) as unknown[];
  if (!numbers.every((n) => typeof n === 'number')) {
    throw new TributaryError(`${where}: VR ${vr} needs numbers or bytes`, { code: 'value', location: where });
  }
  return { tag, vr, bytes: encodeNumbers(numbers as number[], vr, where) };
}

function encodeNumbers(values: number[], vr: string, where: string): Buffer {
  const size = {
    US: 2,
    SS: 2,
    OW: 2,
    UL: 4,
    SL: 4,
    FL: 4,
    OF: 4,
    OL: 4,
    AT: 4,
    FD: 8,
    OD: 8,
    SV: 8,
    UV: 8,
    OV: 8,
    OB: 1,
    UN: 1,
  }[vr];
  if (!size)
    throw new TributaryError(`${where}: cannot encode numbers as VR ${vr}`, {
      code: 'value',
      location: where,
    });
  const b = Buffer.alloc(values.length * size);
  values.forEach((n, i) => {
    const o = i * size;
    switch (vr) {
      case 'US':
      case 'OW':
        b.writeUInt16LE(n, o);
        break;
      case 'SS':
        b.writeInt16LE(n, o);
        break;
      case 'UL':
      case 'OL':
        b.writeUInt32LE(n, o);
        break;
      case 'SL':
        b.writeInt32LE(n, o);
        break;
      case 'FL':
      case 'OF':
        b.writeFloatLE(n, o);
        break;
      case 'FD':
      case 'OD':
        b.writeDoubleLE(n, o);
        break;
      case 'SV':
        b.writeBigInt64LE(BigInt(n), o);
        break;
      case 'UV':
      case 'OV':
        b.writeBigUInt64LE(BigInt(n), o);
        break;
      // AT: a tag as group then element, each 16-bit little endian
      case 'AT':
        b.writeUInt16LE(Math.floor(n / 0x10000), o);
        b.writeUInt16LE(n & 0xffff, o + 2);
        break;
      default:
        b.writeUInt8(n, o);
    }
  });
  return padEven(b, vr);
}
