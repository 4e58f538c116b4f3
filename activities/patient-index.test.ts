import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createPatientIndex } from './patient-index';
import { workItemContentOf } from './route';
import { createFileBlobStore } from './staging';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'patient-index-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('patient index', () => {
  it('links across batches and workers by reference, alias and MRN, per institution', async () => {
    const store = createFileBlobStore({ root, key: { key: crypto.randomBytes(32) } });
    const writer = createPatientIndex(store);
    const reader = createPatientIndex(store); // another worker: sees what the first one staged
    expect((await reader.load('inst-a')).linkageFor('Patient/p1')).toBeUndefined();
    await writer.record('inst-a', [
      {
        ref: 'Patient/p1',
        aliases: ['Patient/old1'],
        mrn: ' 0042 ',
        linkage: 'L1',
        raw: { resourceType: 'Patient', id: 'p1' },
      },
    ]);
    await writer.record('inst-b', [
      { ref: 'Patient/p1', linkage: 'L2', raw: { resourceType: 'Patient', id: 'p1' } },
    ]);
    const a = await reader.load('inst-a');
    expect(a.linkageFor('Patient/p1')).toBe('L1');
    expect(a.linkageFor('Patient/old1')).toBe('L1');
    expect(a.linkageFor('urn:uuid:p1')).toBe('L1');
    expect(a.linkageForMrn('0042')).toBe('L1');
    expect(a.patientFor('Patient/p1')?.id).toBe('p1');
    expect((await reader.load('inst-b')).linkageFor('Patient/p1')).toBe('L2');
    // An identical entry is not written again; a changed one is, and so is one removed underneath.
    const [entryFile] = fs
      .readdirSync(root, { recursive: true })
      .map(String)
      .filter((f) => f.startsWith('patients/inst-a/') && f.endsWith('.enc'));
    const entry = {
      ref: 'Patient/p1',
      aliases: ['Patient/old1'],
      mrn: ' 0042 ',
      linkage: 'L1',
      raw: { resourceType: 'Patient', id: 'p1' },
    };
    const before = fs.statSync(path.join(root, entryFile)).ino;
    await writer.record('inst-a', [entry]);
    expect(fs.statSync(path.join(root, entryFile)).ino).toBe(before);
    await writer.record('inst-a', [
      { ...entry, raw: { resourceType: 'Patient', id: 'p1', gender: 'female' } },
    ]);
    expect(fs.statSync(path.join(root, entryFile)).ino).not.toBe(before);
    await writer.record('inst-a', [entry]);
    fs.rmSync(path.join(root, entryFile));
    await writer.record('inst-a', [entry]);
    expect(fs.existsSync(path.join(root, entryFile))).toBe(true);
    expect((await createPatientIndex(store).load('inst-a')).patientFor('Patient/p1')).toEqual(entry.raw);
    // Staged encrypted: the MRN is not readable on disk.
    const onDisk = fs.readdirSync(root, { recursive: true }).filter((f) => String(f).endsWith('.enc'));
    for (const f of onDisk)
      expect(fs.readFileSync(path.join(root, String(f))).includes(Buffer.from('0042'))).toBe(false);
  });
});

describe('work items from verified resources', () => {
  it('carries codes, decoded note text and imaging modality; skips resources no annotator acts on', () => {
    const note = workItemContentOf(
      {
        id: 'inst-a:ehr:DocumentReference/d1',
        resource: {
          resourceType: 'DocumentReference',
          id: 'd1',
          type: { coding: [{ system: 'http://loinc.org', code: '34117-2' }], text: 'H&P' },
          content: [
            {
              attachment: {
                contentType: 'text/plain; charset=utf-8',
                data: Buffer.from('Chest pain since morning').toString('base64'),
              },
            },
          ],
        },
      },
      'inst-a',
      'ehr',
    );
    expect(note).toMatchObject({
      resourceType: 'DocumentReference',
      codes: [{ system: 'http://loinc.org', code: '34117-2' }],
    });
    expect(note?.text).toContain('Chest pain since morning');
    const study = workItemContentOf(
      {
        id: 'inst-a:imaging:ImagingStudy/s1',
        resource: {
          resourceType: 'ImagingStudy',
          id: 's1',
          series: [{ modality: { code: 'CT' }, bodySite: { display: 'Chest' } }],
        },
      },
      'inst-a',
      'imaging',
    );
    expect(study).toMatchObject({ modality: 'CT', bodySite: 'Chest' });
    expect(
      workItemContentOf(
        { id: 'x:ehr:Observation/o1', resource: { resourceType: 'Observation', id: 'o1' } },
        'x',
        'ehr',
      ),
    ).toBeUndefined();
    expect(
      workItemContentOf(
        { id: 'x:wearable:Observation/o1', resource: { resourceType: 'Observation', id: 'o1' } },
        'x',
        'wearable',
      ),
    ).toBeDefined();
  });
});
