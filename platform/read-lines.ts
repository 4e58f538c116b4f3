import fs from 'node:fs';

/**
 * A text file's lines, read a chunk at a time: a Bulk export's NDJSON runs to gigabytes, more than one string (V8
 * stops near 512 MiB) or the heap holds. Lines end at '\n' (a byte that never occurs inside a UTF-8 sequence, so a
 * chunk boundary cannot split a character into two lines); a trailing '\r' and a leading byte-order mark are dropped.
 * `start` and `bytes` locate the line in the file (see readLineAt); numbers count every line, blank ones too.
 */
export function forEachLineSync(
  file: string,
  onLine: (text: string, lineNo: number, start: number, bytes: number) => void,
  options: { chunkBytes?: number } = {},
): void {
  const chunk = Buffer.allocUnsafe(options.chunkBytes ?? 1 << 20);
  const fd = fs.openSync(file, 'r');
  try {
    /** Bytes of the current line read with earlier chunks (copied: the chunk buffer is reused). */
    let carry: Buffer[] = [];
    let carried = 0;
    let lineStart = 0;
    let lineNo = 0;
    let offset = 0;
    const emit = (tail: Buffer, from: number, to: number) => {
      let bytes = to - from;
      let text: string;
      if (carried) {
        const whole = Buffer.concat([...carry, tail.subarray(from, to)]);
        bytes = whole.length;
        text = whole.toString('utf8');
        carry = [];
        carried = 0;
      } else text = tail.toString('utf8', from, to);
      lineNo++;
      if (lineNo === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      if (text.charCodeAt(text.length - 1) === 0x0d) text = text.slice(0, -1);
      onLine(text, lineNo, lineStart, bytes);
    };
    for (;;) {
      const n = fs.readSync(fd, chunk, 0, chunk.length, offset);
      if (n === 0) break;
      let pos = 0;
      for (let nl = chunk.indexOf(0x0a, pos); nl >= 0 && nl < n; nl = chunk.indexOf(0x0a, pos)) {
        emit(chunk, pos, nl);
        pos = nl + 1;
        lineStart = offset + pos;
      }
      if (pos < n) {
        carry.push(Buffer.from(chunk.subarray(pos, n)));
        carried += n - pos;
      }
      offset += n;
    }
    if (carried) emit(Buffer.alloc(0), 0, 0);
  } finally {
    fs.closeSync(fd);
  }
}

/** The line forEachLineSync reported at `start` with `bytes` bytes, read again from the file (no '\r', no BOM). */
export function readLineAt(fd: number, start: number, bytes: number): string {
  const buf = Buffer.allocUnsafe(bytes);
  let read = 0;
  while (read < bytes) {
    const n = fs.readSync(fd, buf, read, bytes - read, start + read);
    if (n === 0) break;
    read += n;
  }
  let text = buf.toString('utf8', 0, read);
  if (start === 0 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.charCodeAt(text.length - 1) === 0x0d) text = text.slice(0, -1);
  return text;
}
