import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/** The shared sample (pydicom's CT_small) beside the repository; see /work/shared/data/SOURCES.md. */
const SAMPLE = path.resolve(process.cwd(), '../shared/data/dicom/CT_small.dcm');
const base = () => process.env.ORTHANC_URL!.replace(/\/$/, '');

/** A DICOM tag's first value from a DICOM JSON (PS3.18 F.2) object. */
function tagValue(obj: Record<string, { Value?: unknown[] }>, tag: string): unknown {
  return obj[tag]?.Value?.[0];
}

function readUid(bytes: Buffer, tagBytes: number[]): string {
  // Explicit VR little endian: group, element, VR "UI", 2-byte length. Enough to read the study UID of the sample.
  const needle = Buffer.from([...tagBytes, 0x55, 0x49]);
  const at = bytes.indexOf(needle);
  if (at < 0) throw new Error('sample has no explicit-VR UID for the requested tag');
  const length = bytes.readUInt16LE(at + 6);
  return bytes
    .subarray(at + 8, at + 8 + length)
    .toString('latin1')
    .replace(/\0+$/, '')
    .trim();
}

describe('Orthanc (real PACS with DICOMweb, index in PostgreSQL)', () => {
  it('stores a DICOM file with STOW-RS and finds it again with QIDO-RS', async () => {
    const file = fs.readFileSync(SAMPLE);
    const studyUid = readUid(file, [0x20, 0x00, 0x0d, 0x00]);
    const sopUid = readUid(file, [0x08, 0x00, 0x18, 0x00]);

    const boundary = `tributary-${Date.now()}`;
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
      file,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const stow = await fetch(`${base()}/dicom-web/studies`, {
      method: 'POST',
      headers: {
        'Content-Type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
        Accept: 'application/dicom+json',
      },
      body,
    });
    expect(stow.status).toBe(200);
    const stored = (await stow.json()) as Record<string, { Value?: Record<string, { Value?: unknown[] }>[] }>;
    const referenced = stored['00081199']?.Value ?? [];
    expect(referenced.map((r) => tagValue(r, '00081155'))).toContain(sopUid);
    expect(stored['00081198']?.Value ?? []).toHaveLength(0); // the failed-SOP sequence is empty

    const qido = await fetch(
      `${base()}/dicom-web/studies?StudyInstanceUID=${encodeURIComponent(studyUid)}&includefield=00081030`,
      {
        headers: { Accept: 'application/dicom+json' },
      },
    );
    expect(qido.status).toBe(200);
    const studies = (await qido.json()) as Record<string, { Value?: unknown[] }>[];
    expect(studies).toHaveLength(1);
    expect(tagValue(studies[0], '0020000D')).toBe(studyUid);

    const instances = (await (
      await fetch(`${base()}/dicom-web/studies/${studyUid}/instances`, {
        headers: { Accept: 'application/dicom+json' },
      })
    ).json()) as Record<string, { Value?: unknown[] }>[];
    expect(instances.map((i) => tagValue(i, '00080018'))).toContain(sopUid);
  });

  it('keeps its index in PostgreSQL', async () => {
    const plugins = (await (await fetch(`${base()}/plugins`)).json()) as string[];
    expect(plugins).toEqual(expect.arrayContaining(['dicom-web', 'postgresql-index']));
  });
});
