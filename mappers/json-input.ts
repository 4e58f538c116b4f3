import { isUtf8 } from 'node:buffer';
import type { RecordSink } from './sink';

export interface JsonDocument {
  value: unknown;
  /** '$' for a whole-file document, 'line N' for an NDJSON line. */
  location: string;
}

/**
 * A JSON file or NDJSON: whole-file JSON when it parses, else one document per line. A line that does not parse is
 * rejected on its own with its line number; a whole file that starts like JSON and does not parse and has one line is
 * rejected whole.
 */
export function readJsonDocuments(bytes: Buffer, sink: RecordSink): JsonDocument[] {
  const bom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  if (bytes[bom] === 0x7b) {
    const fast = readNdjsonFast(bytes, bom, sink);
    if (fast) return fast;
  }
  let text = bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.includes('\uFFFD')) sink.issue('warning', 'value', 'file', 'input is not valid UTF-8; invalid bytes replaced');
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
  let lineNo = 0;
  let pos = 0;
  while (pos < text.length) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    lineNo++;
    const line = text.slice(pos, end).trim();
    pos = end + 1;
    if (!line) continue;
    try {
      out.push({ value: JSON.parse(line), location: `line ${lineNo}` });
    } catch {
      sink.reject(`line ${lineNo}`, 'not valid JSON', 'structure');
    }
  }
  return out;
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
  if (!isUtf8(bytes) || bytes.includes(REPLACEMENT_CHAR)) sink.issue('warning', 'value', 'file', 'input is not valid UTF-8; invalid bytes replaced');
  let p = end1;
  while (p < bytes.length && isJsonSpace(bytes[p])) p++;
  // Only JSON whitespace after a complete value: the whole file is that one document.
  if (p >= bytes.length) return [{ value: first, location: '$' }];
  const out: JsonDocument[] = [{ value: first, location: 'line 1' }];
  let lineNo = 1;
  let pos = end1 + 1;
  while (pos < bytes.length) {
    let end = bytes.indexOf(0x0a, pos);
    if (end < 0) end = bytes.length;
    lineNo++;
    const line = bytes.toString('utf8', pos, end).trim();
    pos = end + 1;
    if (!line) continue;
    try {
      out.push({ value: JSON.parse(line), location: `line ${lineNo}` });
    } catch {
      sink.reject(`line ${lineNo}`, 'not valid JSON', 'structure');
    }
  }
  return out;
}

/** Arrays expand into their items ($[i]); anything else is one item. */
export function expandArray(doc: JsonDocument): JsonDocument[] {
  if (!Array.isArray(doc.value)) return [doc];
  const prefix = doc.location.startsWith('$') ? doc.location : `${doc.location}:$`;
  return doc.value.map((value, i) => ({ value, location: `${prefix}[${i}]` }));
}
