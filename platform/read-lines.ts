import fs from 'node:fs';

/** What a reader calls for each line (see forEachLineSync). */
export type OnLine = (text: string, lineNo: number, start: number, bytes: number) => void;

const CHUNK_BYTES = 1 << 20;

/**
 * Cuts chunks into lines: the sync and async readers below feed it, and the Bulk export reader (a file over HTTP).
 * `raw` keeps each line's bytes as they are (a trailing CR, a leading byte-order mark): a staged page must hold the
 * file's own bytes. `start` is the line's offset from the first byte pushed.
 */
export class LineSplitter {
  /** Bytes of the current line read with earlier chunks (copied: the chunk buffer is reused). */
  private carry: Buffer[] = [];
  private carried = 0;
  private lineStart = 0;
  private lineNo = 0;
  private offset = 0;

  constructor(
    private readonly onLine: OnLine,
    private readonly options: { raw?: boolean } = {},
  ) {}

  push(chunk: Buffer, n: number): void {
    let pos = 0;
    for (let nl = chunk.indexOf(0x0a); nl >= 0 && nl < n; nl = chunk.indexOf(0x0a, pos)) {
      this.emit(chunk, pos, nl);
      pos = nl + 1;
      this.lineStart = this.offset + pos;
    }
    if (pos < n) {
      this.carry.push(Buffer.from(chunk.subarray(pos, n)));
      this.carried += n - pos;
    }
    this.offset += n;
  }

  end(): void {
    if (this.carried) this.emit(Buffer.alloc(0), 0, 0);
  }

  private emit(tail: Buffer, from: number, to: number): void {
    let bytes = to - from;
    let text: string;
    if (this.carried) {
      const whole = Buffer.concat([...this.carry, tail.subarray(from, to)]);
      bytes = whole.length;
      text = whole.toString('utf8');
      this.carry = [];
      this.carried = 0;
    } else text = tail.toString('utf8', from, to);
    this.lineNo++;
    if (!this.options.raw) {
      if (this.lineNo === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      if (text.charCodeAt(text.length - 1) === 0x0d) text = text.slice(0, -1);
    }
    this.onLine(text, this.lineNo, this.lineStart, bytes);
  }
}

/**
 * A text file's lines, read a chunk at a time: a Bulk export's NDJSON runs to gigabytes, more than one string (V8
 * stops near 512 MiB) or the heap holds. Lines end at '\n' (a byte that never occurs inside a UTF-8 sequence, so a
 * chunk boundary cannot split a character into two lines); a trailing '\r' and a leading byte-order mark are dropped.
 * `start` and `bytes` locate the line in the file (see readLineAt); numbers count every line, blank ones too.
 */
export function forEachLineSync(file: string, onLine: OnLine, options: { chunkBytes?: number } = {}): void {
  const chunk = Buffer.allocUnsafe(options.chunkBytes ?? CHUNK_BYTES);
  const lines = new LineSplitter(onLine);
  const fd = fs.openSync(file, 'r');
  try {
    for (let n = fs.readSync(fd, chunk); n > 0; n = fs.readSync(fd, chunk)) lines.push(chunk, n);
    lines.end();
  } finally {
    fs.closeSync(fd);
  }
}

/** forEachLineSync for code that shares its event loop (an activity): other work runs between chunks. */
export async function forEachLine(
  file: string,
  onLine: OnLine,
  options: { chunkBytes?: number } = {},
): Promise<void> {
  const chunk = Buffer.allocUnsafe(options.chunkBytes ?? CHUNK_BYTES);
  const lines = new LineSplitter(onLine);
  const handle = await fs.promises.open(file, 'r');
  try {
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, chunk.length);
      if (bytesRead === 0) break;
      lines.push(chunk, bytesRead);
    }
    lines.end();
  } finally {
    await handle.close();
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

/**
 * A file's lines in pieces of at most `maxLines` (blank lines included, so numbering stays whole), for callers that
 * work a piece at a time and await between pieces. `last` is true on the final piece.
 */
export async function* lineBatches(
  file: string,
  maxLines: number,
  options: { chunkBytes?: number } = {},
): AsyncGenerator<{ firstLine: number; lines: string[]; last: boolean }> {
  const chunk = Buffer.allocUnsafe(options.chunkBytes ?? CHUNK_BYTES);
  let current: string[] = [];
  let firstLine = 1;
  const full: { firstLine: number; lines: string[] }[] = [];
  const lines = new LineSplitter((text, lineNo) => {
    current.push(text);
    if (current.length >= maxLines) {
      full.push({ firstLine, lines: current });
      current = [];
      firstLine = lineNo + 1;
    }
  });
  const handle = await fs.promises.open(file, 'r');
  try {
    // A piece is handed out once the next one has begun, so the final piece can say it is the last.
    let pending: { firstLine: number; lines: string[] } | undefined;
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, chunk.length);
      if (bytesRead === 0) break;
      lines.push(chunk, bytesRead);
      while (full.length) {
        if (pending) yield { ...pending, last: false };
        pending = full.shift();
      }
    }
    lines.end();
    if (current.length) full.push({ firstLine, lines: current });
    for (const piece of full) {
      if (pending) yield { ...pending, last: false };
      pending = piece;
    }
    if (pending) yield { ...pending, last: true };
  } finally {
    await handle.close();
  }
}
