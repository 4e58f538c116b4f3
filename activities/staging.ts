import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../platform/config';
import { TributaryError } from '../platform/errors';
import { readFileIfExists, writeFileAtomic } from '../platform/files';
import { keyIdOf, loadKey, type SecretKey } from '../platform/keys';

/**
 * Staging: where raw pages, and the batches one activity hands to another, live between activities. Activities hand
 * each other keys, counts and digests; the bytes (patient data) stay here, encrypted at rest with AES-256-GCM. The
 * interface is small so an object store can implement it later. The file store reads, and writes small objects,
 * synchronously (see platform/files.ts).
 */
export interface BlobStore {
  /** Write (or rewrite: keys derive from inputs, so a retry writes the same object) and return its digest. */
  put(key: string, bytes: Buffer): Promise<BlobRef>;
  get(key: string): Promise<Buffer>;
  has(key: string): Promise<boolean>;
  /** Keys under a prefix (`a/b/` lists `a/b/...`), sorted. */
  list(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
}

export interface BlobRef {
  key: string;
  /** sha256 (hex) of the plaintext: lets a later step prove it read what the earlier step wrote. */
  digest: string;
  bytes: number;
}

const MAGIC = Buffer.from('TRBS1');
const KEY_ID_BYTES = 16;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_PATTERN = /^[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)*$/;

/** Staging keys are paths we build from institution ids, source kinds and digests; anything else is refused. */
export function assertStagingKey(key: string): void {
  if (!KEY_PATTERN.test(key) || key.split('/').includes('..') || key.length > 400) {
    throw new TributaryError(
      `staging key has an invalid shape (lower-case segments of letters, digits, . _ -)`,
      {
        code: 'invalid',
        location: 'staging key',
        nonRetryable: true,
      },
    );
  }
}

/** A key that derives from its inputs: `<prefix>/<sha256(parts)[0..32]>`. Same inputs, same key, on every retry. */
export function deriveStagingKey(prefix: string, ...parts: string[]): string {
  const h = crypto.createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  const key = `${prefix}/${h.digest('hex').slice(0, 32)}`;
  assertStagingKey(key);
  return key;
}

export function digestOf(bytes: Buffer | string): string {
  return crypto.createHash('sha256').update(bytes).digest('hex');
}

/** Encrypted files on disk, one file per key; the key is bound in as associated data so files cannot be swapped. */
export function createFileBlobStore(options: { root: string; key: Pick<SecretKey, 'key'> }): BlobStore {
  const { root } = options;
  const key = options.key.key;
  if (key.length !== 32)
    throw new TributaryError('staging key must be 32 bytes', { code: 'security', nonRetryable: true });
  const keyId = Buffer.from(keyIdOf(key));

  const fileOf = (k: string): string => {
    assertStagingKey(k);
    return path.join(root, ...k.split('/')) + '.enc';
  };

  function seal(k: string, plain: Buffer): Buffer {
    const iv = crypto.randomBytes(IV_BYTES);
    const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(k));
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return Buffer.concat([MAGIC, keyId, iv, body, cipher.getAuthTag()]);
  }

  function open(k: string, sealed: Buffer): Buffer {
    const head = MAGIC.length + KEY_ID_BYTES + IV_BYTES;
    if (sealed.length < head + TAG_BYTES || !sealed.subarray(0, MAGIC.length).equals(MAGIC)) {
      throw new TributaryError(`staging object ${k} is not a sealed blob`, {
        code: 'structure',
        location: `staging ${k}`,
        nonRetryable: true,
      });
    }
    if (!sealed.subarray(MAGIC.length, MAGIC.length + KEY_ID_BYTES).equals(keyId)) {
      throw new TributaryError(`staging object ${k} was sealed with another staging key`, {
        code: 'security',
        location: `staging ${k}`,
        nonRetryable: true,
      });
    }
    const iv = sealed.subarray(MAGIC.length + KEY_ID_BYTES, head);
    const decipher = crypto.createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAAD(Buffer.from(k));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    try {
      return Buffer.concat([
        decipher.update(sealed.subarray(head, sealed.length - TAG_BYTES)),
        decipher.final(),
      ]);
    } catch {
      throw new TributaryError(`staging object ${k} failed authentication (tampered, truncated or moved)`, {
        code: 'security',
        location: `staging ${k}`,
        nonRetryable: true,
      });
    }
  }

  return {
    async put(k, bytes) {
      await writeFileAtomic(fileOf(k), seal(k, bytes), { mode: 0o600, dirMode: 0o700 });
      return { key: k, digest: digestOf(bytes), bytes: bytes.length };
    },
    async get(k) {
      const sealed = readFileIfExists(fileOf(k));
      if (!sealed)
        throw new TributaryError(`staging object ${k} does not exist`, {
          code: 'not-found',
          location: `staging ${k}`,
          nonRetryable: true,
        });
      return open(k, sealed);
    },
    async has(k) {
      return fs.existsSync(fileOf(k));
    },
    async list(prefix) {
      const trimmed = prefix.replace(/\/+$/, '');
      if (trimmed) assertStagingKey(trimmed);
      const dir = path.join(root, ...trimmed.split('/').filter(Boolean));
      const out: string[] = [];
      function walk(d: string, rel: string): void {
        let entries: fs.Dirent[];
        try {
          entries = fs.readdirSync(d, { withFileTypes: true });
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
          throw e;
        }
        for (const entry of entries) {
          const r = rel ? `${rel}/${entry.name}` : entry.name;
          if (entry.isDirectory()) walk(path.join(d, entry.name), r);
          else if (entry.name.endsWith('.enc')) out.push(r.slice(0, -'.enc'.length));
        }
      }
      walk(dir, trimmed);
      return out.sort();
    },
    async delete(k) {
      fs.rmSync(fileOf(k), { force: true });
    },
  };
}

/** JSON and NDJSON on top of a blob store. */
export async function putJson(store: BlobStore, key: string, value: unknown): Promise<BlobRef> {
  return store.put(key, Buffer.from(JSON.stringify(value)));
}

export async function getJson<T>(store: BlobStore, key: string): Promise<T> {
  return JSON.parse((await store.get(key)).toString('utf8')) as T;
}

/**
 * The staging key: TRIBUTARY_STAGING_KEY or TRIBUTARY_STAGING_KEY_FILE; a local run generates
 * `.stack/keys/staging.key` once.
 */
export function loadStagingKey(config: Config): SecretKey {
  return loadKey({
    purpose: 'staging encryption key',
    envName: 'TRIBUTARY_STAGING_KEY',
    envValue: config.env.TRIBUTARY_STAGING_KEY,
    fileEnvName: 'TRIBUTARY_STAGING_KEY_FILE',
    file: config.env.TRIBUTARY_STAGING_KEY_FILE,
    defaultFile: path.join(config.paths.keys, 'staging.key'),
    generate: !config.temporal.external,
  });
}
