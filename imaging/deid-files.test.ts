import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { deidentifyDicomFiles, parseOptionNames } from './deid-files';
import { SAMPLE_DIR, testKeyService } from './test-support';

describe('deidentifyDicomFiles', () => {
  it('writes outputs, quarantine and a report whose counts reconcile', () => {
    const inDir = fs.mkdtempSync(path.join(os.tmpdir(), 'deid-in-'));
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'deid-out-'));
    for (const f of ['CT_small.dcm', 'MR_small.dcm', 'MR_small_implicit.dcm', 'examples_jpeg2k.dcm'])
      fs.copyFileSync(path.join(SAMPLE_DIR, f), path.join(inDir, f));
    fs.writeFileSync(path.join(inDir, 'notes.txt'), 'not dicom');
    const report = deidentifyDicomFiles({
      inPath: inDir,
      outDir,
      keyService: testKeyService(),
      institution: 'riverside-general',
      options: parseOptionNames(['retain-longitudinal-modified', 'clean-pixel-data']),
    });
    expect(report.counts).toEqual({ inputs: 5, deidentified: 3, quarantined: 1, skipped: 1 });
    // MR_small and MR_small_implicit are the same instance: both kept, never overwritten
    const outputs = fs.readdirSync(outDir).filter((f) => f.endsWith('.dcm'));
    expect(outputs).toHaveLength(3);
    expect(fs.readdirSync(path.join(outDir, 'quarantine'))).toHaveLength(1);
    const onDisk = JSON.parse(fs.readFileSync(path.join(outDir, 'deid-report.json'), 'utf8'));
    expect(onDisk.counts).toEqual(report.counts);
    expect(onDisk.files.find((f: { input: string }) => f.input === 'examples_jpeg2k.dcm')).toMatchObject({
      status: 'quarantined',
      rule: 'burned-in-no-mask-rule',
    });
    fs.rmSync(inDir, { recursive: true, force: true });
    fs.rmSync(outDir, { recursive: true, force: true });
  });

  it('rejects an unknown option by name, listing the known ones', () => {
    expect(() => parseOptionNames(['retain-everything'])).toThrow(
      /unknown de-identification option 'retain-everything'.*retain-uids/,
    );
    expect(parseOptionNames(['basic'])).toEqual({});
  });
});
