import { describe, expect, it } from 'vitest';
import { readJsonDocuments } from './json-input';
import { RecordSink } from './sink';

function read(bytes: Buffer) {
  const sink = new RecordSink({ institution: 'test-inst', sourceFile: 'in.ndjson', validate: false });
  const docs = readJsonDocuments(bytes, sink);
  return {
    docs,
    issues: sink.result.issues.map((i) => ({ severity: i.severity, location: i.location?.[0] })),
  };
}

describe('readJsonDocuments', () => {
  it('reads NDJSON line by line with line numbers, Chinese text intact, and rejects a bad line on its own', () => {
    const text = ['{"a":"张三"}', '', '{"b":2', '  {"c":[1,2]}  \r', ''].join('\n');
    const { docs, issues } = read(Buffer.from(text));
    expect(docs).toEqual([
      { value: { a: '张三' }, location: 'line 1' },
      { value: { c: [1, 2] }, location: 'line 4' },
    ]);
    expect(issues).toEqual([{ severity: 'error', location: 'in.ndjson:line 3' }]);
  });

  it('reads a one-line or pretty-printed JSON file (with BOM or trailing space) as one document', () => {
    for (const text of ['\uFEFF{"a":1}\n\n', '{\n  "a": 1\n}\n', '[{"a":1}]', '{"a":1}']) {
      expect(read(Buffer.from(text)).docs).toEqual([
        { value: text.includes('[') ? [{ a: 1 }] : { a: 1 }, location: '$' },
      ]);
    }
  });

  it('warns once about invalid UTF-8 and still reads what parses', () => {
    const bytes = Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xff]), Buffer.from('"}\n{"b":1}\n')]);
    const { docs, issues } = read(bytes);
    expect(docs.map((d) => d.location)).toEqual(['line 1', 'line 2']);
    expect(issues).toEqual([{ severity: 'warning', location: 'in.ndjson:file' }]);
  });
});
