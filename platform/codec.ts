import crypto from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { METADATA_ENCODING_KEY } from '@temporalio/common';
import { TributaryError } from './errors';
import { keyIdOf } from './keys';

const ENCODING = 'binary/encrypted';
const KEY_ID = 'encryption-key-id';
const CIPHER = 'encryption-cipher';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * AES-256-GCM over the whole serialized payload (data and metadata), so nothing of a workflow's inputs, results
 * or failures is readable in Temporal's history without the key. The key id travels in clear metadata; old keys
 * stay in the keyring for decoding after a rotation, and only the first key encrypts.
 */
export class AesGcmPayloadCodec implements PayloadCodec {
  private readonly encryptKey: { id: string; key: Buffer };
  private readonly keyring = new Map<string, Buffer>();

  constructor(keys: Buffer[]) {
    if (keys.length === 0)
      throw new TributaryError('payload codec needs at least one key', { code: 'security' });
    for (const key of keys) {
      if (key.length !== 32)
        throw new TributaryError('payload codec keys must be 32 bytes', { code: 'security' });
      this.keyring.set(keyIdOf(key), key);
    }
    this.encryptKey = { id: keyIdOf(keys[0]), key: keys[0] };
  }

  get keyId(): string {
    return this.encryptKey.id;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const iv = crypto.randomBytes(IV_BYTES);
      const cipher = crypto.createCipheriv('aes-256-gcm', this.encryptKey.key, iv);
      const plain = encodePayloadProto(payload);
      const body = Buffer.concat([cipher.update(plain), cipher.final()]);
      return {
        metadata: {
          [METADATA_ENCODING_KEY]: Buffer.from(ENCODING),
          [KEY_ID]: Buffer.from(this.encryptKey.id),
          [CIPHER]: Buffer.from('AES-256-GCM'),
        },
        data: Buffer.concat([iv, body, cipher.getAuthTag()]),
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
      if (!encoding || Buffer.from(encoding).toString() !== ENCODING) return payload;
      const keyIdBytes = payload.metadata?.[KEY_ID];
      const keyId = keyIdBytes ? Buffer.from(keyIdBytes).toString() : '';
      const key = this.keyring.get(keyId);
      if (!key)
        throw new TributaryError(`payload was encrypted with key ${keyId}, which is not in this keyring`, {
          code: 'security',
        });
      const data = Buffer.from(payload.data ?? new Uint8Array());
      const iv = data.subarray(0, IV_BYTES);
      const tag = data.subarray(data.length - TAG_BYTES);
      const decipher = crypto.createDecipheriv('aes-256-gcm', key, iv);
      decipher.setAuthTag(tag);
      const plain = Buffer.concat([
        decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return decodePayloadProto(plain);
    });
  }
}

/**
 * A payload serialized as JSON of base64 fields. (Temporal's samples use the protobuf encoding; JSON keeps this
 * module free of the proto bundle and is just as opaque once encrypted.)
 */
function encodePayloadProto(payload: Payload): Buffer {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(payload.metadata ?? {}))
    metadata[k] = Buffer.from(v as Uint8Array).toString('base64');
  return Buffer.from(
    JSON.stringify({ m: metadata, d: Buffer.from(payload.data ?? new Uint8Array()).toString('base64') }),
  );
}

function decodePayloadProto(bytes: Buffer): Payload {
  const parsed = JSON.parse(bytes.toString('utf8')) as { m: Record<string, string>; d: string };
  const metadata: Record<string, Uint8Array> = {};
  for (const [k, v] of Object.entries(parsed.m)) metadata[k] = new Uint8Array(Buffer.from(v, 'base64'));
  return { metadata, data: new Uint8Array(Buffer.from(parsed.d, 'base64')) };
}
