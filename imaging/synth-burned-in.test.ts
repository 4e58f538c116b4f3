import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateSynth } from '../synth/generate';
import { deidentifyDicom } from './dicom-deid';
import { readAscii } from './dicom-model';
import { readDicom } from './dicom-read';
import { decodeFrames, readPixelInfo } from './pixels';
import { testKeyService } from './test-support';

/**
 * The generator burns each patient's name into its ultrasound cine frames and records the box. Those frames must
 * come out cleaned (not quarantined): the text box blank in every frame, every pixel outside the rule's band
 * unchanged, and BurnedInAnnotation set to NO.
 */
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-synth-us-'));
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

describe('burned-in text in the generator’s ultrasound cine', () => {
  const { groundTruth } = generateSynth({
    out,
    seed: 'burned-in',
    patients: 3,
    institutions: ['sh-ruijin-north', 'riverside-general'],
  });
  const keyService = testKeyService();

  it('plants burned-in text to test against', () => {
    expect(groundTruth.burnedIn.length).toBeGreaterThan(0);
  });

  it('masks the text in every frame and keeps the rest of the image', () => {
    for (const planted of groundTruth.burnedIn) {
      const input = fs.readFileSync(path.join(out, planted.file));
      const result = deidentifyDicom(input, { keyService, institution: planted.institution });
      expect(result.status, planted.file).toBe('ok');
      if (result.status !== 'ok') continue;

      const before = readDicom(input);
      const after = readDicom(result.bytes);
      const info = readPixelInfo(after.nodes)!;
      const framesBefore = decodeFrames(before.nodes, before.transferSyntaxUid, info, 'input');
      const framesAfter = decodeFrames(after.nodes, after.transferSyntaxUid, info, 'output');
      expect(framesAfter).toHaveLength(framesBefore.length);
      const { x, y, width, height } = planted.box;
      for (const f of planted.frames) {
        let inked = 0;
        for (let row = y; row < y + height; row++) {
          for (let col = x; col < x + width; col++) {
            if (framesBefore[f][row * info.columns + col] === 255) inked++;
            expect(framesAfter[f][row * info.columns + col]).toBe(0);
          }
        }
        expect(inked, 'the input really carries text').toBeGreaterThan(0);
        // Below the header band nothing changes.
        const band = 32 * info.columns;
        expect(Buffer.compare(framesAfter[f].subarray(band), framesBefore[f].subarray(band))).toBe(0);
      }
      expect(readAscii(after.nodes, 'x00280301')).toBe('NO');
    }
  });
});
