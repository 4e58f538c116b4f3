import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from './publish';

describe('writeFileAtomic', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'publish-'));
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
});
