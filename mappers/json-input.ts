import { isUtf8 } from 'node:buffer';
import type { RecordSink } from './sink';

const NOT_UTF8 = 'input is not valid UTF-8; invalid bytes replaced';

export interface JsonDocument {
  value: unknown;
  /** '$' for a whole-file document, 'line N' for an NDJSON line. */
  location: string;
}

/**
 * A JSON file or NDJSON: whole-file JSON when it parses, else one document per line. A line that does not parse is
 * rejected on its own with its line number; a whole file that starts like JSON and does not parse and has one line is
 * rejected whole. With `firstLine`, the bytes are lines of an NDJSON file from that line on.
 */
export function readJsonDocuments(
  bytes: Buffer,
  sink: RecordSink,
  options: { firstLine?: number } = {},
): JsonDocument[] {
  // A piece of an NDJSON file (mapFile reads large ones in pieces): every line is a document, numbered in the file.
  if (options.firstLine !== undefined) {
    if (bytes.includes(REPLACEMENT_CHAR)) sink.issue('warning', 'value', 'file', NOT_UTF8);
    const out: JsonDocument[] = [];
    readLines(
      bytes.length,
      0,
      options.firstLine - 1,
      (from) => bytes.indexOf(0x0a, from),
      (start, end) => bytes.toString('utf8', start, end),
      out,
      sink,
    );
    return out;
  }
  const bom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  if (bytes[bom] === 0x7b) {
    const fast = readNdjsonFast(bytes, bom, sink);
    if (fast) return fast;
  }
  let text = bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.includes('\uFFFD')) sink.issue('warning', 'value', 'file', NOT_UTF8);
  const start = text.search(/\S/);
  if (start < 0) return [];
  if (text[start] === '[' || text[start] === '{') {
    try {
      return [{ value: JSON.parse(text), location: '$' }];
    } catch {
      // fall through to NDJSON
    }
  }
  const out: JsonDocument[] = [];
  readLines(
    text.length,
    0,
    0,
    (from) => text.indexOf('\n', from),
    (start, end) => text.slice(start, end),
    out,
    sink,
  );
  return out;
}

/**
 * One document per line from `pos` (the start of line `lineNo + 1`) to `length`; a line that does not parse is
 * rejected on its own with its number. Over a string or over bytes: the caller says how to find and read a line.
 */
function readLines(
  length: number,
  pos: number,
  lineNo: number,
  nextNewline: (from: number) => number,
  lineAt: (start: number, end: number) => string,
  out: JsonDocument[],
  sink: RecordSink,
): void {
  while (pos < length) {
    let end = nextNewline(pos);
    if (end < 0) end = length;
    lineNo++;
    const line = lineAt(pos, end).trim();
    pos = end + 1;
    if (!line) continue;
    try {
      out.push({ value: JSON.parse(line), location: `line ${lineNo}` });
    } catch {
      sink.reject(`line ${lineNo}`, 'not valid JSON', 'structure');
    }
  }
}

const REPLACEMENT_CHAR = Buffer.from('\uFFFD', 'utf8');

function isJsonSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

/**
 * The same result as the text path below for input starting with '{' whose first line is a complete JSON value (one
 * object per line, the NDJSON case), decoding line by line: one non-ASCII character anywhere made the whole-file
 * string two-byte, and every JSON.parse slower. Returns undefined (use the text path) when line 1 does not parse.
 */
function readNdjsonFast(bytes: Buffer, bom: number, sink: RecordSink): JsonDocument[] | undefined {
  const nl = bytes.indexOf(0x0a, bom);
  const end1 = nl < 0 ? bytes.length : nl;
  let first: unknown;
  try {
    first = JSON.parse(bytes.toString('utf8', bom, end1));
  } catch {
    return undefined;
  }
  if (!isUtf8(bytes) || bytes.includes(REPLACEMENT_CHAR)) sink.issue('warning', 'value', 'file', NOT_UTF8);
  let p = end1;
  while (p < bytes.length && isJsonSpace(bytes[p])) p++;
  // Only JSON whitespace after a complete value: the whole file is that one document.
  if (p >= bytes.length) return [{ value: first, location: '$' }];
  const out: JsonDocument[] = [{ value: first, location: 'line 1' }];
  readLines(
    bytes.length,
    end1 + 1,
    1,
    (from) => bytes.indexOf(0x0a, from),
    (start, end) => bytes.toString('utf8', start, end),
    out,
    sink,
  );
  return out;
}

/** Arrays expand into their items ($[i]); anything else is one item. */
export function expandArray(doc: JsonDocument): JsonDocument[] {
  if (!Array.isArray(doc.value)) return [doc];
  const prefix = doc.location.startsWith('$') ? doc.location : `${doc.location}:$`;
  return doc.value.map((value, i) => ({ value, location: `${prefix}[${i}]` }));
}
