import zlib from 'node:zlib';
import dicomParser from 'dicom-parser';
import { TributaryError, toError } from '../platform/errors';
import { lookupTag, isPrivateTag, vrForTag } from './dicom-dictionary';
import { WORD_SIZE, type DicomNode } from './dicom-model';
import { EXPLICIT_VR_LITTLE_ENDIAN } from './dicom-write';

/**
 * Reads any PS3.10 file (or a bare data set without file meta) with dicom-parser into little-endian `DicomNode`s:
 * explicit and implicit VR little endian (VRs from the dictionary), explicit VR big endian (values swapped),
 * deflated (zlib) and encapsulated pixel data. dicom-parser's string and object throws become one TributaryError
 * naming where, never a value.
 */

export const IMPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2';
export const EXPLICIT_VR_BIG_ENDIAN = '1.2.840.10008.1.2.2';
export const DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1.99';
/** Syntaxes whose pixel data are native (not encapsulated). */
export const NATIVE_SYNTAXES = new Set([
  IMPLICIT_VR_LITTLE_ENDIAN,
  EXPLICIT_VR_LITTLE_ENDIAN,
  EXPLICIT_VR_BIG_ENDIAN,
  DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
]);

export interface ReadDicomResult {
  /** The syntax the file was read from. */
  sourceTransferSyntaxUid: string;
  /** The syntax the nodes are in now: Explicit VR LE for native sources, the source syntax for encapsulated. */
  transferSyntaxUid: string;
  /** False for a bare data set without PS3.10 preamble and meta group. */
  hadFileMeta: boolean;
  /** The data set without group 0002. */
  nodes: DicomNode[];
}

const VR_PATTERN =
  /^(AE|AS|AT|CS|DA|DS|DT|FL|FD|IS|LO|LT|OB|OD|OF|OL|OV|OW|PN|SH|SL|SQ|SS|ST|SV|TM|UC|UI|UL|UN|UR|US|UT|UV)$/;

export function readDicom(bytes: Buffer | Uint8Array, where = 'DICOM file'): ReadDicomResult {
  const byteArray =
    bytes instanceof Buffer ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hadFileMeta = byteArray.length > 132 && byteArray.toString('latin1', 128, 132) === 'DICM';
  let bareSyntax: string | undefined;
  if (!hadFileMeta) {
    if (byteArray.length < 8)
      throw new TributaryError(`${where}: too short to be DICOM`, { code: 'structure', nonRetryable: true });
    // A bare data set: explicit VR if bytes 4-5 spell a VR.
    bareSyntax = VR_PATTERN.test(byteArray.toString('latin1', 4, 6))
      ? EXPLICIT_VR_LITTLE_ENDIAN
      : IMPLICIT_VR_LITTLE_ENDIAN;
  }
  let dataSet: dicomParser.DataSet;
  try {
    dataSet = dicomParser.parseDicom(byteArray, {
      ...(bareSyntax ? { TransferSyntaxUID: bareSyntax } : {}),
      vrCallback: (tag: string) => vrForTag(tag),
      inflater: (arr: Uint8Array, position: number) => {
        const inflated = zlib.inflateRawSync(arr.subarray(position));
        const full = Buffer.alloc(position + inflated.length);
        full.set(arr.subarray(0, position), 0);
        full.set(inflated, position);
        return full;
      },
    } as dicomParser.ParseDicomOptions);
  } catch (e) {
    const err = toError(e);
    throw new TributaryError(`${where}: cannot parse DICOM (${stripValues(err.message)})`, {
      code: 'structure',
      nonRetryable: true,
      cause: err,
    });
  }
  const source = bareSyntax ?? readTransferSyntax(dataSet);
  const littleEndian = source !== EXPLICIT_VR_BIG_ENDIAN;
  const nodes = convert(dataSet, dataSet.byteArray, littleEndian, where);
  return {
    sourceTransferSyntaxUid: source,
    transferSyntaxUid: NATIVE_SYNTAXES.has(source) ? EXPLICIT_VR_LITTLE_ENDIAN : source,
    hadFileMeta,
    nodes,
  };
}

// dicom-parser messages name offsets and tags; keep them short and value-free.
function stripValues(message: string): string {
  return message.replace(/^dicomParser\./, '').slice(0, 200);
}

function readTransferSyntax(ds: dicomParser.DataSet): string {
  const el = ds.elements.x00020010 as (dicomParser.Element & { Value?: string }) | undefined;
  if (el?.Value) return el.Value;
  return (ds.string('x00020010') ?? '').replace(/\0/g, '').trim();
}

function convert(
  ds: dicomParser.DataSet,
  byteArray: Uint8Array,
  littleEndian: boolean,
  where: string,
): DicomNode[] {
  const nodes: DicomNode[] = [];
  for (const key of Object.keys(ds.elements)) {
    const el = ds.elements[key];
    const tag = el.tag;
    if (tag.startsWith('x0002') || tag.startsWith('xfffe')) continue; // meta group is rewritten; delimiters are structure
    if (el.items) {
      nodes.push({
        tag,
        vr: 'SQ',
        items: el.items.map((item) => convert(item.dataSet!, byteArray, littleEndian, where)),
      });
      continue;
    }
    if (el.encapsulatedPixelData && el.fragments) {
      const start = el.dataOffset;
      const botLength = Buffer.from(byteArray.buffer, byteArray.byteOffset + start + 4, 4).readUInt32LE(0);
      nodes.push({
        tag,
        vr: 'OB',
        encapsulated: {
          offsetTable: Buffer.from(byteArray.subarray(start + 8, start + 8 + botLength)),
          fragments: el.fragments.map((f) =>
            Buffer.from(byteArray.subarray(f.position, f.position + f.length)),
          ),
        },
      });
      continue;
    }
    if (el.dataOffset + el.length > byteArray.length) {
      throw new TributaryError(`${where}: element runs past the end of the file`, {
        code: 'structure',
        location: tag,
        nonRetryable: true,
      });
    }
    let vr = el.vr ?? vrForTag(tag);
    // Transcoded or implicit data can label public attributes UN; the dictionary knows better (the bytes are the same).
    if (vr === 'UN' && !isPrivateTag(tag)) {
      const known = lookupTag(tag)?.vr;
      if (known && known !== 'SQ') vr = known;
    }
    const bytes = Buffer.from(byteArray.subarray(el.dataOffset, el.dataOffset + el.length));
    const word = WORD_SIZE[vr];
    if (!littleEndian && word && word > 1) swapInPlace(bytes, word);
    nodes.push({ tag, vr, bytes });
  }
  return nodes;
}

function swapInPlace(bytes: Buffer, word: number): void {
  if (word === 2) bytes.swap16();
  else if (word === 4) bytes.swap32();
  else if (word === 8) bytes.swap64();
}
