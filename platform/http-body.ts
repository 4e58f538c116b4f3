import { TributaryError } from './errors';

/**
 * A file or response past the size the pipeline reads whole: named with its size, never retried (it will not
 * shrink). The limit is TRIBUTARY_MAX_FILE_MB.
 */
export function tooLargeError(where: string, size: number, max: number): TributaryError {
  const amount = (n: number) =>
    n < 2 ** 20 ? `${n} bytes` : `${(n / 2 ** 20).toFixed(n < 10 * 2 ** 20 ? 1 : 0)} MiB`;
  return new TributaryError(
    `${where}: ${amount(size)}, over the ${amount(max)} a file may be (files are read whole); split it, or raise TRIBUTARY_MAX_FILE_MB`,
    { code: 'too-costly', location: where, nonRetryable: true },
  );
}

/**
 * A response body of at most `maxBytes`: refused by its Content-Length before it is read, else as it arrives, so a
 * file past the limit never fills the worker's memory.
 */
export async function readBodyWithin(res: Response, maxBytes: number, where: string): Promise<Buffer> {
  if (maxBytes === Infinity || !res.body) return Buffer.from(await res.arrayBuffer());
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) {
    await res.body.cancel().catch(() => undefined);
    throw tooLargeError(where, declared, maxBytes);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body) {
    total += chunk.byteLength;
    if (total > maxBytes) throw tooLargeError(where, total, maxBytes);
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}
