import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TributaryError } from './errors';
import { readBodyWithin } from './http-body';

let server: http.Server;
let base: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    if (req.url === '/declared')
      return res.writeHead(200, { 'content-length': '5000' }).end(Buffer.alloc(5000));
    // Chunked, no length: 64 chunks of 64 KiB, written only as the client reads.
    res.writeHead(200);
    let n = 0;
    const pump = () => {
      while (n < 64) {
        n++;
        if (!res.write(Buffer.alloc(65536))) return void res.once('drain', pump);
      }
      res.end();
    };
    res.on('close', () => (n = 64));
    pump();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('readBodyWithin', () => {
  it('reads a body within the limit whole', async () => {
    expect((await readBodyWithin(await fetch(`${base}/declared`), 5000, 'x')).length).toBe(5000);
    expect((await readBodyWithin(await fetch(`${base}/chunked`), 8 * 2 ** 20, 'x')).length).toBe(64 * 65536);
  });

  it('refuses a declared length past the limit, and stops reading an undeclared one once past it', async () => {
    const declared = await readBodyWithin(await fetch(`${base}/declared`), 4999, 'study 1 instance 2').catch(
      (e: unknown) => e,
    );
    expect(declared).toBeInstanceOf(TributaryError);
    expect((declared as TributaryError).message).toBe(
      'study 1 instance 2: 5000 bytes, over the 4999 bytes a file may be (files are read whole); split it, or raise TRIBUTARY_MAX_FILE_MB',
    );
    expect((declared as TributaryError).nonRetryable).toBe(true);
    const chunked = await readBodyWithin(await fetch(`${base}/chunked`), 2 ** 20, 'x').catch(
      (e: unknown) => e,
    );
    expect((chunked as TributaryError).message).toMatch(/^x: 1\.1 MiB, over the 1\.0 MiB a file may be/);
    expect((chunked as TributaryError).code).toBe('too-costly');
  });
});
