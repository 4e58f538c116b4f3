import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { TributaryError } from './errors';

/**
 * Secret keys come from the environment or a key file, never from code. A key is 32 bytes written as base64 or
 * hex. Its id is a short digest of the key, so outputs can say which key made them without revealing it.
 */
export interface SecretKey {
  key: Buffer;
  keyId: string;
  source: string;
}

export function parseKeyMaterial(text: string, source: string): Buffer {
  const trimmed = text.trim();
  let key: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) key = Buffer.from(trimmed, 'hex');
  else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed)) key = Buffer.from(trimmed, 'base64');
  if (!key || key.length !== 32) {
    throw new TributaryError(`${source}: a key must be 32 bytes written as 64 hex digits or base64`, {
      code: 'invalid',
      location: source,
      nonRetryable: true,
    });
  }
  return key;
}

export function keyIdOf(key: Buffer): string {
  return crypto.createHash('sha256').update('tributary-key-id\0').update(key).digest('hex').slice(0, 16);
}

export interface LoadKeyOptions {
  /** What the key is for, in messages: "codec key", "de-identification key". */
  purpose: string;
  envName: string;
  envValue?: string;
  fileEnvName: string;
  file?: string;
  /** Where a local run keeps a generated key (e.g. `.stack/keys/codec.key`). Only used when `generate` is set. */
  defaultFile?: string;
  /** Create the default file with a fresh random key when nothing else is configured (local runs only). */
  generate?: boolean;
}

export function loadKey(options: LoadKeyOptions): SecretKey {
  if (options.envValue) {
    const key = parseKeyMaterial(options.envValue, options.envName);
    return { key, keyId: keyIdOf(key), source: options.envName };
  }
  const file = options.file ?? options.defaultFile;
  if (file && fs.existsSync(file)) {
    const key = parseKeyMaterial(fs.readFileSync(file, 'utf8'), `key file ${file}`);
    return { key, keyId: keyIdOf(key), source: file };
  }
  if (options.file) {
    throw new TributaryError(`${options.purpose}: key file ${options.file} does not exist`, {
      code: 'not-found',
      nonRetryable: true,
    });
  }
  if (options.generate && options.defaultFile) {
    fs.mkdirSync(path.dirname(options.defaultFile), { recursive: true, mode: 0o700 });
    const key = crypto.randomBytes(32);
    // wx: never overwrite a key another process just wrote; fall back to reading theirs.
    try {
      fs.writeFileSync(options.defaultFile, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      return loadKey({ ...options, generate: false });
    }
    return { key, keyId: keyIdOf(key), source: options.defaultFile };
  }
  throw new TributaryError(
    `no ${options.purpose}: set ${options.envName} (32 bytes, base64 or hex) or ${options.fileEnvName}=<path to a key file>` +
      `; create one with: openssl rand -base64 32 > my.key`,
    { code: 'security', nonRetryable: true },
  );
}

export function newKeyText(): string {
  return crypto.randomBytes(32).toString('base64');
}
