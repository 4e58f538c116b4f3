import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SYNC_WRITE_MAX_BYTES, readFileIfExists, writeFileAtomic } from './files';

describe('writeFileAtomic', async () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'files-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('replaces a file whole and leaves no temporary beside it', async () => {
    const file = path.join(root, 'fhir', 'Patient.a.ndjson');
    await writeFileAtomic(file, 'one\n');
    await writeFileAtomic(file, 'two\n');
    expect(fs.readFileSync(file, 'utf8')).toBe('two\n');
    expect(fs.readdirSync(path.dirname(file))).toEqual(['Patient.a.ndjson']);
  });

  it('writes again into a folder removed underneath it', async () => {
    const file = path.join(root, 'out', 'fhir', 'Patient.a.ndjson');
    await writeFileAtomic(file, 'one\n');
    fs.rmSync(path.join(root, 'out'), { recursive: true });
    await writeFileAtomic(file, 'two\n');
    expect(fs.readFileSync(file, 'utf8')).toBe('two\n');
  });

  it('writes a large file (through fs/promises) the same way', async () => {
    const file = path.join(root, 'dicom', 'big.dcm');
    const big = Buffer.alloc(SYNC_WRITE_MAX_BYTES + 1, 7);
    await writeFileAtomic(file, big, { mode: 0o600, dirMode: 0o700 });
    fs.rmSync(path.join(root, 'dicom'), { recursive: true });
    await writeFileAtomic(file, big, { mode: 0o600, dirMode: 0o700 });
    expect(fs.readFileSync(file).equals(big)).toBe(true);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['big.dcm']);
  });

  it('writes with the modes asked for', async () => {
    const file = path.join(root, 'staging', 'raw', 'x.enc');
    await writeFileAtomic(file, 'sealed', { mode: 0o600, dirMode: 0o700 });
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
  });

  it('reads a file, or says it is not there', async () => {
    const file = path.join(root, 'a.txt');
    expect(readFileIfExists(file)).toBeUndefined();
    await writeFileAtomic(file, 'one');
    expect(readFileIfExists(file)?.toString()).toBe('one');
    expect(() => readFileIfExists(root)).toThrow(/EISDIR/);
  });
});
