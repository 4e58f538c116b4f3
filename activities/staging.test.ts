import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileBlobStore, deriveStagingKey, digestOf, getJson, putJson, type BlobStore } from './staging';

describe('encrypted file blob store', () => {
  let root: string;
  let store: BlobStore;
  const key = { key: crypto.randomBytes(32) };

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'staging-'));
    store = createFileBlobStore({ root, key });
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('round-trips bytes and never writes the plaintext to disk', async () => {
    const plain = Buffer.from('{"name":"Zhang Wei","mrn":"MRN-0042"}');
    const ref = await store.put('raw/inst-a/ehr/abc', plain);
    expect(ref).toEqual({ key: 'raw/inst-a/ehr/abc', digest: digestOf(plain), bytes: plain.length });
    expect(await store.get('raw/inst-a/ehr/abc')).toEqual(plain);
    const onDisk = fs.readFileSync(path.join(root, 'raw/inst-a/ehr/abc.enc'));
    expect(onDisk.includes(Buffer.from('Zhang'))).toBe(false);
    expect(onDisk.includes(Buffer.from('MRN-0042'))).toBe(false);
  });

  it('writes again into a folder removed underneath it', async () => {
    await putJson(store, 'std/x/1', { a: 1 });
    fs.rmSync(path.join(root, 'std'), { recursive: true });
    await putJson(store, 'std/x/2', { a: 2 });
    expect(await getJson(store, 'std/x/2')).toEqual({ a: 2 });
    expect(await store.list('std/x')).toEqual(['std/x/2']);
  });

  it('rewrites the same key idempotently and lists by prefix', async () => {
    await putJson(store, 'std/x/1', { a: 1 });
    await putJson(store, 'std/x/1', { a: 1 });
    await putJson(store, 'std/x/2', { a: 2 });
    await putJson(store, 'std/y/1', { a: 3 });
    expect(await store.list('std/x')).toEqual(['std/x/1', 'std/x/2']);
    expect(await getJson(store, 'std/x/2')).toEqual({ a: 2 });
    expect(await store.has('std/y/1')).toBe(true);
    await store.delete('std/y/1');
    expect(await store.has('std/y/1')).toBe(false);
    expect(fs.readdirSync(path.join(root, 'std/x')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('detects tampering, a moved file and a different key', async () => {
    await store.put('a/one', Buffer.from('hello'));
    const file = path.join(root, 'a/one.enc');
    fs.mkdirSync(path.join(root, 'b'));
    fs.copyFileSync(file, path.join(root, 'b/one.enc'));
    await expect(store.get('b/one')).rejects.toThrow(/failed authentication/);
    const other = createFileBlobStore({ root, key: { key: crypto.randomBytes(32) } });
    await expect(other.get('a/one')).rejects.toThrow(/another staging key/);
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 20] ^= 1;
    fs.writeFileSync(file, bytes);
    await expect(store.get('a/one')).rejects.toThrow(/failed authentication/);
    await expect(store.get('a/missing')).rejects.toThrow(/does not exist/);
  });

  it('refuses keys that could leave the root or carry arbitrary text', async () => {
    await expect(store.put('../escape', Buffer.from('x'))).rejects.toThrow(/invalid shape/);
    await expect(store.put('raw/Zhang Wei', Buffer.from('x'))).rejects.toThrow(/invalid shape/);
  });

  it('derives keys from inputs only', () => {
    expect(deriveStagingKey('raw/inst-a', 'page', '1')).toBe(deriveStagingKey('raw/inst-a', 'page', '1'));
    expect(deriveStagingKey('raw/inst-a', 'page', '1')).not.toBe(deriveStagingKey('raw/inst-a', 'page', '2'));
    expect(deriveStagingKey('raw/inst-a', 'ab', 'c')).not.toBe(deriveStagingKey('raw/inst-a', 'a', 'bc'));
    expect(deriveStagingKey('raw/inst-a', 'x')).toMatch(/^raw\/inst-a\/[0-9a-f]{32}$/);
  });
});
