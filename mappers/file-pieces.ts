/**
 * Cutting large files of records into pieces at record boundaries, from a stream of chunks: a file drop's page
 * (activities/connectors.ts) and `tributary map` (mapFile) read a file a piece at a time, each piece mapped on its
 * own with its place in the file (MapContext.firstLine, firstRecord), so a file of any size maps in bounded memory
 * and gives what it gives whole (HL7 v2, HIS CSV; Apple Health windows cut by a boundary become two Observations).
 */
import { createReadStream } from 'node:fs';
import { detectHl7Charset } from './ehr/hl7v2-parse';
import { FlatXmlScanner, XmlScanError } from './wearable/xml-scan';

/**
 * Scan `buf` for CSV record ends (the offset after a line break outside quotes), carrying the quote state
 * across chunks; returns the first end for which `stop` says true. A doubled quote inside a quoted field toggles the
 * state twice, so it needs no case of its own; GBK and UTF-8 never use '"' or '\n' inside a character.
 */
function csvRecordEnds(
  buf: Buffer,
  state: { inQuotes: boolean },
  stop: (end: number) => boolean,
): number | undefined {
  let pos = 0;
  // The next quote and line feed at or after pos (-1: none left), searched again only once pos passes them: a chunk
  // without quotes is not read to its end once per line.
  let quote = -2;
  let nl = -2;
  for (;;) {
    if (quote !== -1 && quote < pos) quote = buf.indexOf(0x22, pos);
    if (state.inQuotes) {
      if (quote < 0) return undefined;
      state.inQuotes = false;
      pos = quote + 1;
      continue;
    }
    if (nl !== -1 && nl < pos) nl = buf.indexOf(0x0a, pos);
    if (nl >= 0 && (quote < 0 || nl < quote)) {
      if (stop(nl + 1)) return nl + 1;
      pos = nl + 1;
    } else if (quote >= 0) {
      state.inQuotes = true;
      pos = quote + 1;
    } else return undefined;
  }
}

/**
 * Finds where a file may be cut into pieces: given a chunk and where it starts in the file, the first cut point (a
 * file position) for which `stop` says true. State carries across chunks.
 */
export type PieceCutter = (chunk: Buffer, at: number, stop: (cut: number) => boolean) => number | undefined;

/** Formats a file drop may split into pieces of whole records. */
export type PieceFormat = 'his-csv' | 'hl7v2' | 'apple-health';
export const isPieceFormat = (format: string): format is PieceFormat =>
  format === 'his-csv' || format === 'hl7v2' || format === 'apple-health';

/** CSV: after a record's line end. */
export function createCsvCutter(): PieceCutter {
  const state = { inQuotes: false };
  return (chunk, at, stop) => {
    const end = csvRecordEnds(chunk, state, (e) => stop(at + e));
    return end === undefined ? undefined : at + end;
  };
}

/** LF line ends (CSV: a quoted line break counts, as an editor shows it; XML: as the scanner counts lines). */
export function countNewlines(bytes: Buffer): number {
  let n = 0;
  for (let at = bytes.indexOf(0x0a); at >= 0; at = bytes.indexOf(0x0a, at + 1)) n++;
  return n;
}

/** Line kinds that matter for cutting and counting HL7 v2 (0: any other line). */
const MSH = 1;
const BHS = 2;
const FHS = 3;
const BTS = 4;
const FTS = 5;

/**
 * What the HL7 v2 reader makes of a line from its first bytes `b[s, s + len)` (MLLP's VT and a BOM already skipped;
 * `complete`: the line ends there): a message start (MSH and at least 8 bytes, as the reader asks), a batch or file
 * header or trailer (the name alone, or followed by a delimiter), or 0. Decided on bytes: it runs for every line.
 */
function hl7LineKind(b: ArrayLike<number>, s: number, len: number, complete: boolean): number {
  if (len < 3) return 0;
  const c0 = b[s];
  const c1 = b[s + 1];
  const c2 = b[s + 2];
  if (c0 === 0x4d && c1 === 0x53 && c2 === 0x48) return len >= 8 ? MSH : 0;
  // [FB][HT]S is exactly FHS, FTS, BHS, BTS.
  if (c2 !== 0x53 || (c0 !== 0x42 && c0 !== 0x46) || (c1 !== 0x48 && c1 !== 0x54)) return 0;
  const kind = c0 === 0x42 ? (c1 === 0x48 ? BHS : BTS) : c1 === 0x48 ? FHS : FTS;
  if (len === 3) return complete ? kind : 0;
  const c3 = b[s + 3];
  return (c3 >= 0x41 && c3 <= 0x5a) || (c3 >= 0x30 && c3 <= 0x39) ? 0 : kind;
}

/**
 * HL7 v2: before a line that starts a message (MSH) or a batch (BHS, FHS), unless it follows the header of its batch
 * or file (which goes with what it opens). Lines end at CR, LF or CR LF; neither byte occurs inside a UTF-8, GBK or
 * GB 18030 character, so the byte after one starts a character. `from`: where reading starts, a line start.
 */
export function createHl7Cutter(from: number): PieceCutter {
  const lineEnds = createLineEnds();
  let lineStart = from;
  /** The current line's first bytes (up to 8) while they are being read (`reading`), and how many. */
  const head = new Uint8Array(8);
  let headLength = 0;
  let reading = true;
  /** The kind of the last non-blank line. */
  let previous = 0;
  const judge = (complete: boolean, stop: (cut: number) => boolean): boolean => {
    const kind = hl7LineKind(head, 0, headLength, complete);
    const opens =
      kind === MSH ? previous !== BHS && previous !== FHS : kind === BHS ? previous !== FHS : kind === FHS;
    if (headLength > 0) previous = kind;
    reading = false;
    return opens && lineStart > from && stop(lineStart);
  };
  return (chunk, at, stop) => {
    let i = 0;
    while (i < chunk.length) {
      if (reading) {
        const b = chunk[i];
        if (b === 0x0d || b === 0x0a) {
          if (judge(true, stop)) return lineStart;
        } else {
          i++;
          if (!(b === 0x0b && headLength === 0)) head[headLength++] = b;
          if (headLength === 8 && judge(false, stop)) return lineStart;
          continue;
        }
      }
      const end = lineEnds.next(chunk, i);
      if (end < 0) return undefined;
      i = end + 1;
      lineStart = at + i;
      headLength = 0;
      reading = true;
    }
    return undefined;
  };
}

/**
 * The next CR or LF of a buffer at or after a position, remembering the next of each: a file with CR line ends has
 * no LF, and searching for one afresh on every line would read the rest of the buffer each time.
 */
function createLineEnds(): { next(buf: Buffer, from: number): number } {
  let of: Buffer | undefined;
  let cr = -1;
  let lf = -1;
  return {
    next(buf, from) {
      if (buf !== of) {
        of = buf;
        cr = lf = -2;
      }
      if (cr !== -1 && cr < from) cr = buf.indexOf(0x0d, from);
      if (lf !== -1 && lf < from) lf = buf.indexOf(0x0a, from);
      return cr < 0 ? lf : lf < 0 ? cr : Math.min(cr, lf);
    },
  };
}

/**
 * Apple Health (any XML under one root): before a top-level element (a child of the root). The scanner is given the
 * root's start tag first, so a piece from the middle of the file is read at the right depth; `records()` counts the
 * top-level elements before the cut. XML that stops being well-formed has no more cut points.
 */
export function createXmlCutter(
  rootTag: Buffer,
  from: number,
): { cutter: PieceCutter; records: () => number } {
  let depth = 0;
  let records = 0;
  let cut: number | undefined;
  let stop: (cut: number) => boolean = () => false;
  let broken = false;
  // Scanner offsets count the root tag first: file position = offset + shift.
  const shift = from - rootTag.length;
  // Structure only: the mapper reads the attributes; the cutter needs where top-level elements start.
  const scanner = new FlatXmlScanner(
    {
      open: (_name, _attrs, _line, start) => {
        depth++;
        if (depth !== 2 || cut !== undefined) return;
        if (start + shift > from && stop(start + shift)) cut = start + shift;
        else records++;
      },
      close: () => void depth--,
    },
    { skipAttributes: true },
  );
  scanner.write(rootTag);
  return {
    cutter: (chunk, _at, stopAt) => {
      if (broken) return undefined;
      stop = stopAt;
      try {
        scanner.write(chunk);
      } catch (e) {
        if (!(e instanceof XmlScanError)) throw e;
        broken = true;
      }
      return cut;
    },
    records: () => records,
  };
}

export function escapeXmlAttribute(value: string): string {
  return value.replace(/[&<"\t\n\r]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * What a piece of an HL7 v2 file needs from the pieces before it. The batch envelope open where it starts (HL7 v2
 * 2.10.3): the messages of the open batch before it (after its BHS, before its BTS) and the batches of the open file
 * (after FHS, before FTS), so the mapper checks a trailer whose header lies in an earlier piece. And the character set
 * the file's first MSH-18 declares, which a whole file is decoded with (later messages often leave MSH-18 empty).
 */
export interface Hl7FileState {
  batchMessages?: number;
  fileBatches?: number;
  charset?: string;
}

/**
 * Lines (ends at CR, LF or CR LF) and messages (as the reader counts them) in whole lines of an HL7 v2 file, and the
 * file's state after them (see Hl7FileState), given the state before.
 */
export function countHl7LinesAndMessages(
  bytes: Buffer,
  before: Hl7FileState = {},
): { lines: number; messages: number; state: Hl7FileState } {
  let { batchMessages, fileBatches } = before;
  // The file's character set: declared by its first message, which is in the first piece.
  const charset = before.charset ?? (bytes.includes('MSH') ? detectHl7Charset(bytes).declared : undefined);
  let lines = 0;
  let messages = 0;
  let start = 0;
  const lineEnds = createLineEnds();
  while (start < bytes.length) {
    let s = start;
    if (bytes[s] === 0x0b) s++;
    if (bytes[s] === 0xef && bytes[s + 1] === 0xbb && bytes[s + 2] === 0xbf) s += 3; // a UTF-8 BOM, as the reader
    const end = lineEnds.next(bytes, start);
    const e = end < 0 ? bytes.length : end;
    const kind = hl7LineKind(bytes, s, Math.min(e - s, 8), true);
    if (kind === MSH) {
      messages++;
      if (batchMessages !== undefined) batchMessages++;
    } else if (kind === BHS) {
      batchMessages = 0;
      if (fileBatches !== undefined) fileBatches++;
    } else if (kind === FHS) fileBatches = 0;
    else if (kind === BTS) batchMessages = undefined;
    else if (kind === FTS) fileBatches = undefined;
    if (end < 0) break;
    lines++;
    start = bytes[end] === 0x0d && bytes[end + 1] === 0x0a ? end + 2 : end + 1;
  }
  const state: Hl7FileState = charset !== undefined ? { charset } : {};
  if (batchMessages !== undefined) state.batchMessages = batchMessages;
  if (fileBatches !== undefined) state.fileBatches = fileBatches;
  return { lines, messages, state };
}

/**
 * Each piece of a local file, about `pieceBytes` each: `cutterFor(from)` finds where a piece that starts at `from` may
 * end. A piece is handed over with where it starts (`false` back: no more pieces); the file is read again from each
 * cut (at most a chunk twice).
 */
export async function forEachFilePiece(
  path: string,
  options: { from?: number; pieceBytes: number; cutterFor: (from: number) => PieceCutter },
  onPiece: (bytes: Buffer, from: number) => void | boolean | Promise<void | boolean>,
): Promise<void> {
  let from = options.from ?? 0;
  for (;;) {
    const cutter = options.cutterFor(from);
    const chunks: Buffer[] = [];
    let at = from;
    let cut: number | undefined;
    for await (const chunk of createReadStream(path, { start: from, highWaterMark: 1 << 20 })) {
      const buf = chunk as Buffer;
      chunks.push(buf);
      cut = cutter(buf, at, (c) => c - from >= options.pieceBytes);
      at += buf.length;
      if (cut !== undefined) break;
    }
    const bytes = Buffer.concat(chunks);
    if (cut === undefined) {
      if (bytes.length) await onPiece(bytes, from);
      return;
    }
    if ((await onPiece(bytes.subarray(0, cut - from), from)) === false) return;
    from = cut;
  }
}
