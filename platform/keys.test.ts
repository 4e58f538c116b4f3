import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TributaryError } from './errors';
import { keyIdOf, loadKey, parseKeyMaterial } from './keys';

const tmp: string[] = [];
const tmpDir = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-keys-'));
  tmp.push(d);
  return d;
};
afterEach(() => {
  for (const d of tmp.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const base = { purpose: 'test key', envName: 'TEST_KEY', fileEnvName: 'TEST_KEY_FILE' };

describe('parseKeyMaterial', () => {
  const key = crypto.randomBytes(32);

  it('accepts 64 hex digits and base64 (standard or url-safe), trimming whitespace', () => {
    expect(parseKeyMaterial(key.toString('hex'), 'X')).toEqual(key);
    expect(parseKeyMaterial(`  ${key.toString('base64')}\n`, 'X')).toEqual(key);
    expect(parseKeyMaterial(key.toString('base64url'), 'X')).toEqual(key);
  });

  it.each([
    ['too short hex', 'ab'.repeat(16)],
    ['not a key', 'correct horse battery staple'],
    ['empty', ''],
    ['base64 of 24 bytes', crypto.randomBytes(24).toString('base64')],
  ])('rejects %s, naming the source and never echoing the value', (_label, text) => {
    let thrown: unknown;
    try {
      parseKeyMaterial(text, 'TRIBUTARY_CODEC_KEY[1]');
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(TributaryError);
    const err = thrown as TributaryError;
    expect(err.message).toMatch(/^TRIBUTARY_CODEC_KEY\[1\]: a key must be 32 bytes/);
    if (text) expect(err.message).not.toContain(text);
    expect(err.nonRetryable).toBe(true);
    expect(err.location).toBe('TRIBUTARY_CODEC_KEY[1]');
  });
});

describe('loadKey', () => {
  it('prefers the environment value', () => {
    const key = crypto.randomBytes(32);
    const loaded = loadKey({ ...base, envValue: key.toString('hex') });
    expect(loaded).toEqual({ key, keyId: keyIdOf(key), source: 'TEST_KEY' });
  });

  it('reads a key file, and names a missing one', () => {
    const dir = tmpDir();
    const file = path.join(dir, 'k.key');
    const key = crypto.randomBytes(32);
    fs.writeFileSync(file, key.toString('base64'));
    expect(loadKey({ ...base, file }).key).toEqual(key);
    expect(() => loadKey({ ...base, file: path.join(dir, 'missing.key') })).toThrow(
      /test key: key file .*missing\.key does not exist/,
    );
  });

  it('names the bad key file without its content', () => {
    const file = path.join(tmpDir(), 'bad.key');
    fs.writeFileSync(file, 'not-a-key-at-all');
    expect(() => loadKey({ ...base, file })).toThrow(/key file .*bad\.key: a key must be 32 bytes/);
  });

  it('generates a local key once, with private permissions, and reuses it', () => {
    const defaultFile = path.join(tmpDir(), 'keys', 'codec.key');
    const first = loadKey({ ...base, defaultFile, generate: true });
    const second = loadKey({ ...base, defaultFile, generate: true });
    expect(second.key).toEqual(first.key);
    expect(fs.statSync(defaultFile).mode & 0o777).toBe(0o600);
  });

  it('says how to provide a key when none is configured and generation is off', () => {
    expect(() => loadKey({ ...base, defaultFile: path.join(tmpDir(), 'none.key') })).toThrow(
      /no test key: set TEST_KEY .* or TEST_KEY_FILE/,
    );
  });

  it('gives different ids for different keys and never the key itself', () => {
    const a = crypto.randomBytes(32);
    const b = crypto.randomBytes(32);
    expect(keyIdOf(a)).not.toBe(keyIdOf(b));
    expect(keyIdOf(a)).toMatch(/^[0-9a-f]{16}$/);
    expect(a.toString('hex')).not.toContain(keyIdOf(a));
  });
});
