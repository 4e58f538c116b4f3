import iconv from 'iconv-lite';

/**
 * The in-memory form of a data set between reading and writing. Values are kept as their little-endian value bytes,
 * so an element nobody changes is written back byte for byte.
 */
export interface DicomNode {
  /** dicom-parser's form: 'x00100010'. */
  tag: string;
  vr: string;
  /** Value bytes (little endian), absent for sequences and encapsulated pixel data. */
  bytes?: Buffer;
  /** Sequence items, each a data set. */
  items?: DicomNode[][];
  /** Encapsulated (compressed) pixel data: the basic offset table and the fragments, as read. */
  encapsulated?: { offsetTable: Buffer; fragments: Buffer[] };
}

/** VRs whose explicit-VR header has a 4-byte length (PS3.5 7.1.2). */
export const LONG_VRS = new Set([
  'OB',
  'OD',
  'OF',
  'OL',
  'OV',
  'OW',
  'SQ',
  'SV',
  'UC',
  'UN',
  'UR',
  'UT',
  'UV',
]);
export const STRING_VRS = new Set([
  'AE',
  'AS',
  'CS',
  'DA',
  'DS',
  'DT',
  'IS',
  'LO',
  'LT',
  'PN',
  'SH',
  'ST',
  'TM',
  'UC',
  'UI',
  'UR',
  'UT',
]);
/** String VRs whose bytes follow Specific Character Set (the rest are ASCII by definition). */
export const TEXT_VRS = new Set(['LO', 'LT', 'PN', 'SH', 'ST', 'UC', 'UT']);
/** Binary VRs and their word size: what a big-endian reader must swap. */
export const WORD_SIZE: Record<string, number> = {
  US: 2,
  SS: 2,
  OW: 2,
  AT: 2,
  UL: 4,
  SL: 4,
  FL: 4,
  OF: 4,
  OL: 4,
  FD: 8,
  OD: 8,
  SV: 8,
  UV: 8,
  OV: 8,
};

// Specific Character Set defined terms → iconv-lite encodings. ISO 2022 code extensions are not decoded (callers
// treat an undecodable text value as unsafe).
const CHARSETS: Record<string, string> = {
  '': 'latin1',
  ISO_IR_6: 'latin1',
  'ISO 2022 IR 6': 'latin1',
  ISO_IR_100: 'latin1',
  'ISO 2022 IR 100': 'latin1',
  ISO_IR_101: 'iso-8859-2',
  ISO_IR_109: 'iso-8859-3',
  ISO_IR_110: 'iso-8859-4',
  ISO_IR_144: 'iso-8859-5',
  'ISO 2022 IR 144': 'iso-8859-5',
  ISO_IR_127: 'iso-8859-6',
  ISO_IR_126: 'iso-8859-7',
  ISO_IR_138: 'iso-8859-8',
  ISO_IR_148: 'iso-8859-9',
  ISO_IR_166: 'tis620',
  ISO_IR_13: 'shift_jis',
  ISO_IR_192: 'utf8',
  GB18030: 'gb18030',
  GBK: 'gbk',
};

/** The iconv encoding for a Specific Character Set value, or undefined when it needs ISO 2022 switching. */
export function encodingForCharset(specificCharacterSet: string | undefined): string | undefined {
  const terms = (specificCharacterSet ?? '').split('\\').map((t) => t.trim().replace(/^ISO_IR /, 'ISO_IR_'));
  const first = terms[0] ?? '';
  if (terms.length > 1 && terms.slice(1).some((t) => t !== '')) return undefined; // code extensions
  return CHARSETS[first];
}

export function decodeText(bytes: Buffer, encoding: string): string {
  return iconv.decode(bytes, encoding);
}

export function encodeText(text: string, encoding: string): Buffer {
  return iconv.encode(text, encoding);
}

/** Strip DICOM padding (trailing spaces and NULs; leading spaces too for all but text VRs). */
export function trimValue(value: string, vr: string): string {
  const t = value.replace(/[\0 ]+$/, '');
  return vr === 'LT' || vr === 'ST' || vr === 'UT' ? t : t.replace(/^ +/, '');
}

/** Pad a value to even length as PS3.5 requires: NUL for UI and binary, space for strings. */
export function padEven(bytes: Buffer, vr: string): Buffer {
  if (bytes.length % 2 === 0) return bytes;
  const pad = STRING_VRS.has(vr) && vr !== 'UI' ? 0x20 : 0x00;
  return Buffer.concat([bytes, Buffer.from([pad])]);
}

export function findNode(nodes: DicomNode[], tag: string): DicomNode | undefined {
  return nodes.find((n) => n.tag === tag);
}

/** A string value of an ASCII-only VR (UI, CS, DA, ...), trimmed; undefined when absent or empty. */
export function readAscii(nodes: DicomNode[], tag: string): string | undefined {
  const n = findNode(nodes, tag);
  if (!n?.bytes || n.bytes.length === 0) return undefined;
  const v = trimValue(n.bytes.toString('latin1'), n.vr);
  return v === '' ? undefined : v;
}

export function readUint16(nodes: DicomNode[], tag: string): number | undefined {
  const n = findNode(nodes, tag);
  if (!n?.bytes || n.bytes.length < 2) return undefined;
  return n.bytes.readUInt16LE(0);
}

export function readInt(nodes: DicomNode[], tag: string): number | undefined {
  const n = findNode(nodes, tag);
  if (!n?.bytes || n.bytes.length === 0) return undefined;
  if (n.vr === 'US') return n.bytes.readUInt16LE(0);
  if (n.vr === 'UL') return n.bytes.readUInt32LE(0);
  const v = parseInt(trimValue(n.bytes.toString('latin1'), n.vr), 10);
  return Number.isFinite(v) ? v : undefined;
}

/** Replace or insert a node, keeping the list's order by tag. */
export function setNode(nodes: DicomNode[], node: DicomNode): void {
  const i = nodes.findIndex((n) => n.tag === node.tag);
  if (i >= 0) nodes[i] = node;
  else nodes.push(node);
}

export function asciiNode(tag: string, vr: string, value: string): DicomNode {
  return { tag, vr, bytes: padEven(Buffer.from(value, 'latin1'), vr) };
}
