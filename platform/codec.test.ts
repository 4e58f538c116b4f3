import crypto from 'node:crypto';
import type { Payload } from '@temporalio/common';
import { METADATA_ENCODING_KEY } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { AesGcmPayloadCodec } from './codec';
import { keyIdOf } from './keys';

const json = (value: unknown): Payload => ({
  metadata: { [METADATA_ENCODING_KEY]: new Uint8Array(Buffer.from('json/plain')) },
  data: new Uint8Array(Buffer.from(JSON.stringify(value))),
});

describe('AesGcmPayloadCodec', () => {
  const key = crypto.randomBytes(32);
  const codec = new AesGcmPayloadCodec([key]);

  it('round-trips payloads, metadata included, and hides both', async () => {
    const original = json({ name: 'Jane Roe', mrn: 'MRN-000123' });
    const [encoded] = await codec.encode([original]);
    expect(Buffer.from(encoded.metadata![METADATA_ENCODING_KEY]!).toString()).toBe('binary/encrypted');
    expect(Buffer.from(encoded.metadata!['encryption-key-id']!).toString()).toBe(keyIdOf(key));
    const raw = Buffer.from(encoded.data!);
    expect(raw.includes(Buffer.from('Jane'))).toBe(false);
    expect(raw.includes(Buffer.from('json/plain'))).toBe(false);
    const [decoded] = await codec.decode([encoded]);
    expect(Buffer.from(decoded.data!).toString()).toBe(Buffer.from(original.data!).toString());
    expect(Buffer.from(decoded.metadata![METADATA_ENCODING_KEY]!).toString()).toBe('json/plain');
  });

  it('uses a fresh IV each time, so equal inputs give different ciphertexts', async () => {
    const [a, b] = await codec.encode([json('same'), json('same')]);
    expect(Buffer.from(a.data!).equals(Buffer.from(b.data!))).toBe(false);
  });

  it('detects tampering with the ciphertext or the tag', async () => {
    const [encoded] = await codec.encode([json({ n: 1 })]);
    for (const at of [12, encoded.data!.length - 1]) {
      const data = Buffer.from(encoded.data!);
      data[at] ^= 0x01;
      await expect(codec.decode([{ ...encoded, data }])).rejects.toThrow(/unable to authenticate|auth/i);
    }
  });

  it('refuses a payload made with a key it does not hold, naming the key id only', async () => {
    const other = new AesGcmPayloadCodec([crypto.randomBytes(32)]);
    const [encoded] = await other.encode([json('x')]);
    await expect(codec.decode([encoded])).rejects.toThrow(`key ${other.keyId}, which is not in this keyring`);
  });

  it('decodes with a rotated-out key still in the keyring, and encrypts with the first key', async () => {
    const oldKey = crypto.randomBytes(32);
    const [old] = await new AesGcmPayloadCodec([oldKey]).encode([json('before rotation')]);
    const rotated = new AesGcmPayloadCodec([key, oldKey]);
    const [decoded] = await rotated.decode([old]);
    expect(Buffer.from(decoded.data!).toString()).toBe('"before rotation"');
    expect(rotated.keyId).toBe(keyIdOf(key));
  });

  it('passes through payloads that are not encrypted', async () => {
    const plain = json('plain');
    expect(await codec.decode([plain])).toEqual([plain]);
  });

  it('rejects an empty keyring and short keys', () => {
    expect(() => new AesGcmPayloadCodec([])).toThrow(/at least one key/);
    expect(() => new AesGcmPayloadCodec([crypto.randomBytes(16)])).toThrow(/32 bytes/);
  });
});
