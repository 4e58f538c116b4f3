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

/** Arrays expand into their items ($[i]); anything else is one item. */
export function expandArray(doc: JsonDocument): JsonDocument[] {
  if (!Array.isArray(doc.value)) return [doc];
  const prefix = doc.location.startsWith('$') ? doc.location : `${doc.location}:$`;
  return doc.value.map((value, i) => ({ value, location: `${prefix}[${i}]` }));
}
