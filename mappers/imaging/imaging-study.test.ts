import { describe, expect, it } from 'vitest';
import type { DicomSummary } from '../../schemas/dicom-summary';
import { PSEUDONYM_SYSTEM } from '../../deid/key-service';
import { patientStableId } from '../ids';
import { expectReconciled } from '../test-support/data';
import { mapImagingStudies } from './imaging-study';

const base: DicomSummary = {
  patientId: 'MRN7',
  studyInstanceUid: '1.2.3',
  studyDate: '20240105',
  studyTime: '101500',
  accessionNumber: 'ACC1',
  seriesInstanceUid: '1.2.3.1',
  seriesNumber: 1,
  modality: 'CT',
  bodyPartExamined: 'CHEST',
  sopInstanceUid: '1.2.3.1.1',
  sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
  instanceNumber: 1,
};

describe('mapImagingStudies', () => {
  it('groups instances into series of one study, referencing the EHR patient id', () => {
    const r = mapImagingStudies(
      [
        base,
        { ...base, sopInstanceUid: '1.2.3.1.2', instanceNumber: 2 },
        {
          ...base,
          seriesInstanceUid: '1.2.3.2',
          modality: 'MR',
          bodyPartExamined: 'ODD',
          sopInstanceUid: '1.2.3.2.1',
        },
      ],
      { institution: 'test-inst', sourceFile: 'dicom', timezone: 'Asia/Shanghai' },
    );
    expectReconciled(r);
    expect(r.recordsIn).toBe(3);
    const [study] = r.resources;
    expect(study).toMatchObject({
      resourceType: 'ImagingStudy',
      status: 'available',
      subject: { reference: `Patient/${patientStableId('test-inst', 'MRN7')}` },
      started: '2024-01-05T10:15:00+08:00',
      numberOfSeries: 2,
      numberOfInstances: 3,
      modality: [{ code: 'CT' }, { code: 'MR' }],
    });
    const series = study.series as { uid: string; bodySite?: unknown; instance: unknown[] }[];
    expect(series[0]).toMatchObject({
      uid: '1.2.3.1',
      bodySite: { system: 'http://snomed.info/sct', code: '51185008' },
    });
    expect(series[0].instance).toHaveLength(2);
    expect(series[1].bodySite).toEqual({ display: 'ODD' });
  });

  it('names the de-identified Patient of a study its summaries carry, or the person when no Patient was published', () => {
    const deidentified: DicomSummary = {
      ...base,
      patientId: 'PAAAAAAAAAAAAAAA',
      patientResourceId: '0123456789abcdef',
      linkedBy: 'patient-index',
    };
    const ctx = { institution: 'test-inst', sourceFile: 'dicom' };
    expect(mapImagingStudies([deidentified], ctx).resources[0].subject).toEqual({
      reference: 'Patient/0123456789abcdef',
    });
    // No EHR Patient has this patient's MRN: a literal reference would name a Patient that no one publishes.
    for (const linkedBy of ['patient-id', 'study-uid'] as const)
      expect(mapImagingStudies([{ ...deidentified, linkedBy }], ctx).resources[0].subject).toEqual({
        type: 'Patient',
        identifier: { system: PSEUDONYM_SYSTEM, value: 'PAAAAAAAAAAAAAAA' },
      });
    const mixed = mapImagingStudies(
      [deidentified, { ...deidentified, sopInstanceUid: '1.2.3.1.2', patientResourceId: 'fedcba9876543210' }],
      ctx,
    );
    expect(mixed.resources).toEqual([]);
    expect(mixed.issues[0]).toMatchObject({
      code: 'invariant',
      location: ['dicom:summary[0,1]:(0010,0020)'],
    });
  });

  it('rejects a study without patient or modality, naming the DICOM tag, and maps the others', () => {
    const r = mapImagingStudies(
      [
        { ...base, patientId: undefined },
        { ...base, studyInstanceUid: '9.9', modality: undefined },
        { ...base, studyInstanceUid: '8.8' },
      ],
      { institution: 'test-inst', sourceFile: 'dicom' },
    );
    expectReconciled(r);
    expect(r.recordsMapped).toBe(1);
    expect(r.issues.map((i) => i.location?.[0])).toEqual([
      'dicom:summary[0]:(0010,0020)',
      'dicom:summary[1]:summary[1]',
    ]);
  });
});
