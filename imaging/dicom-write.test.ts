import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writePart10 } from './dicom-write';

function dcmdump(bytes: Buffer): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dcmw-'));
  const file = path.join(dir, 'x.dcm');
  fs.writeFileSync(file, bytes);
  try {
    return execFileSync('dcmdump', ['-E', '+L', file], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('writePart10', () => {
  const bytes = writePart10({
    elements: [
      { tag: '(0008,0005)', vr: 'CS', value: 'ISO_IR 192' },
      { tag: '(0010,0010)', vr: 'PN', value: '张^伟' },
      { tag: 'x00080016', vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.7' },
      { tag: '00080018', vr: 'UI', value: '1.2.3.4.5' },
      { tag: '(0028,0010)', vr: 'US', value: 2 },
      { tag: '(0028,0011)', vr: 'US', value: 2 },
      {
        tag: '(0008,1140)',
        vr: 'SQ',
        value: [
          [
            { tag: '(0008,1155)', vr: 'UI', value: '1.2.3' },
            { tag: '(0010,0020)', vr: 'LO', value: 'MRN1' },
          ],
          [],
        ],
      },
      { tag: '(7FE0,0010)', vr: 'OW', value: [1, 2, 3, 65535] },
    ],
  });

  it('writes a preamble, DICM and a meta group whose length dcmdump accepts', () => {
    expect(bytes.subarray(128, 132).toString('latin1')).toBe('DICM');
    const dump = dcmdump(bytes);
    expect(dump).toContain('(0002,0010) UI =LittleEndianExplicit');
    expect(dump).toContain('(0002,0003) UI [1.2.3.4.5]');
    expect(dump).toContain('(0010,0010) PN [张^伟]');
    expect(dump).toContain('(0010,0020) LO [MRN1]');
    expect(dump).toMatch(/\(7fe0,0010\) OW 0001\\0002\\0003\\ffff/);
  });

  it('orders elements by tag and pads odd values', () => {
    const idxPixel = bytes.indexOf(Buffer.from([0xe0, 0x7f, 0x10, 0x00]));
    const idxName = bytes.indexOf(Buffer.from([0x10, 0x00, 0x10, 0x00]));
    expect(idxName).toBeGreaterThan(0);
    expect(idxPixel).toBeGreaterThan(idxName);
    // '1.2.3.4.5' is 9 bytes: padded with one NUL to 10
    const uid = bytes.indexOf(Buffer.from('1.2.3.4.5\0', 'latin1'));
    expect(uid).toBeGreaterThan(0);
  });

  it('rejects a value that cannot be encoded, naming the tag', () => {
    expect(() => writePart10({ elements: [{ tag: '(0028,0010)', vr: 'US', value: 'abc' }] })).toThrow(
      /\(0028,0010\)/,
    );
  });
});
