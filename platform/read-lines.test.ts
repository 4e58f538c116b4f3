import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { forEachLine, forEachLineSync, lineBatches, readLineAt } from './read-lines';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-read-lines-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function linesOf(file: string, chunkBytes?: number) {
  const out: { text: string; lineNo: number; start: number; bytes: number }[] = [];
  forEachLineSync(file, (text, lineNo, start, bytes) => out.push({ text, lineNo, start, bytes }), {
    chunkBytes,
  });
  return out;
}

describe('forEachLineSync', () => {
  // BOM, CRLF, a blank line, Chinese and an emoji (3- and 4-byte UTF-8), no newline at the end.
  const content = '\uFEFF{"a":"张伟"}\r\n\n{"b":"😀 x"}\n{"c":"最后"}';
  const file = path.join(tmp, 'mixed.ndjson');
  fs.writeFileSync(file, content);

  it('gives every line, numbered, without BOM or CR, whatever the chunk size', () => {
    const expected = ['{"a":"张伟"}', '', '{"b":"😀 x"}', '{"c":"最后"}'];
    // 1 to 7 bytes split every multi-byte character and every CRLF somewhere; 1 MiB reads the file at once.
    for (const chunk of [1, 2, 3, 5, 7, 1 << 20]) {
      const lines = linesOf(file, chunk);
      expect(lines.map((l) => l.text)).toEqual(expected);
      expect(lines.map((l) => l.lineNo)).toEqual([1, 2, 3, 4]);
    }
  });

  it('reads the same lines asynchronously', async () => {
    for (const chunkBytes of [1, 3, 1 << 20]) {
      const lines: { text: string; lineNo: number; start: number; bytes: number }[] = [];
      await forEachLine(file, (text, lineNo, start, bytes) => lines.push({ text, lineNo, start, bytes }), {
        chunkBytes,
      });
      expect(lines).toEqual(linesOf(file, chunkBytes));
    }
  });

  it('hands out the same lines in numbered pieces, the last one marked', async () => {
    for (const [maxLines, chunkBytes] of [
      [1, 3],
      [2, 1],
      [3, 1 << 20],
      [4, 5],
      [10, 2],
    ]) {
      const pieces: { firstLine: number; lines: string[]; last: boolean }[] = [];
      for await (const p of lineBatches(file, maxLines, { chunkBytes })) pieces.push(p);
      expect(pieces.flatMap((p) => p.lines)).toEqual(linesOf(file).map((l) => l.text));
      expect(pieces.map((p) => p.firstLine)).toEqual(pieces.map((_, i) => 1 + i * maxLines));
      expect(pieces.map((p) => p.last)).toEqual(pieces.map((_, i) => i === pieces.length - 1));
      expect(pieces.every((p) => p.lines.length <= maxLines && p.lines.length > 0)).toBe(true);
    }
  });

  it('locates each line so readLineAt reads it back', () => {
    const fd = fs.openSync(file, 'r');
    try {
      for (const l of linesOf(file, 3)) expect(readLineAt(fd, l.start, l.bytes)).toBe(l.text);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('reads a file with a final newline and an empty file', () => {
    fs.writeFileSync(path.join(tmp, 'nl.ndjson'), 'a\nb\n');
    expect(linesOf(path.join(tmp, 'nl.ndjson'), 1).map((l) => l.text)).toEqual(['a', 'b']);
    fs.writeFileSync(path.join(tmp, 'empty.ndjson'), '');
    expect(linesOf(path.join(tmp, 'empty.ndjson'))).toEqual([]);
  });
});
