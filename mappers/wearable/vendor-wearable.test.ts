import { describe, expect, it } from 'vitest';
import { expectReconciled } from '../test-support/data';
import type { FhirResource, MapContext } from '../types';
import { mapVendorWearable } from './vendor-wearable';

const ctx: MapContext = { institution: 'test-inst', sourceFile: 'patient-0001.json', subjectMrn: 'M1' };
const file = {
  vendor: 'PulseBand',
  exportVersion: '2.3',
  user: {
    userId: 'pb-1',
    displayName: '张伟',
    email: 'zw@example.cn',
    phone: '13800138000',
    birthday: '1962-03-05',
    gender: 'male',
  },
  device: { model: 'PulseBand 5', serial: 'PB5-2C9F-118A', firmware: '5.1.2' },
  samples: [
    {
      type: 'heart_rate',
      value: 70,
      unit: 'bpm',
      start: '2025-06-01T08:00:00+08:00',
      end: '2025-06-01T08:00:00+08:00',
    },
    { type: 'heart_rate', value: 80, unit: 'bpm', start: 1748736300000, end: 1748736300000 },
    {
      type: 'steps',
      value: 5231,
      unit: 'count',
      start: '2025-06-01T08:00:00+08:00',
      end: '2025-06-01T09:00:00+08:00',
    },
    {
      type: 'spo2',
      value: 97,
      unit: '%',
      start: '2025-06-01T08:00:00+08:00',
      end: '2025-06-01T08:00:00+08:00',
    },
    {
      type: 'sleep',
      value: 412,
      unit: 'min',
      start: '2025-06-01T00:00:00+08:00',
      end: '2025-06-01T06:52:00+08:00',
    },
    {
      type: 'blood_pressure',
      systolic: 128,
      diastolic: 82,
      unit: 'mmHg',
      start: '2025-06-01T08:00:00+08:00',
      end: '2025-06-01T08:00:00+08:00',
    },
    { type: 'body_weight', value: 'heavy', unit: 'kg', start: '2025-06-01T08:00:00+08:00' },
    { type: 'mood', value: 3, start: '2025-06-01T08:00:00+08:00' },
  ],
};
const codes = (o: FhirResource): string => (o.code as { coding: { code: string }[] }).coding[0].code;

describe('mapVendorWearable', () => {
  it('maps every sample type with LOINC/UCUM, windows heart rate, and copies nothing from user or the serial', () => {
    const r = mapVendorWearable(Buffer.from(JSON.stringify(file)), ctx);
    expectReconciled(r);
    expect(r.recordsIn).toBe(8);
    expect(r.recordsRejected).toBe(2);
    expect(r.issues.map((i) => i.location?.[0]).filter((l) => !l?.endsWith(':file'))).toEqual([
      'patient-0001.json:$.samples[6]:value',
      'patient-0001.json:$.samples[7]:type',
    ]);
    const obs = r.resources.filter((x) => x.resourceType === 'Observation');
    expect(obs.map(codes).sort()).toEqual(['55423-8', '59408-5', '85354-9', '8867-4', '93832-4'].sort());
    const hr = obs.find((o) => codes(o) === '8867-4')!;
    expect(hr.valueQuantity).toMatchObject({ value: 75, code: '/min' });
    const sleep = obs.find((o) => codes(o) === '93832-4')!;
    expect(sleep.valueQuantity).toMatchObject({ value: 6.867, code: 'h' });
    const [dev] = r.resources.filter((x) => x.resourceType === 'Device');
    expect(dev).toMatchObject({ manufacturer: 'PulseBand', version: [{ value: '5.1.2' }] });
    const text = JSON.stringify(r);
    for (const phi of ['张伟', 'zw@example.cn', '13800138000', '1962-03-05', 'PB5-2C9F-118A', 'pb-1'])
      expect(text).not.toContain(phi);
  });

  it('maps a file without a subject MRN, with a warning that its Observations have no subject', () => {
    const { subjectMrn: _none, ...noSubject } = ctx;
    const withSubject = mapVendorWearable(Buffer.from(JSON.stringify(file)), ctx);
    const r = mapVendorWearable(Buffer.from(JSON.stringify(file)), noSubject);
    expect(r.recordsMapped).toBe(withSubject.recordsMapped);
    const obs = r.resources.filter((x) => x.resourceType === 'Observation');
    expect(obs.length).toBeGreaterThan(0);
    for (const o of obs) expect(o.subject).toBeUndefined();
    const warnings = r.issues.filter((i) => i.diagnostics?.startsWith('no subject MRN'));
    expect(warnings).toMatchObject([
      {
        severity: 'warning',
        code: 'incomplete',
        diagnostics: 'no subject MRN given for this file: Observations have no subject',
      },
    ]);
    expect(withSubject.issues.filter((i) => i.diagnostics?.startsWith('no subject MRN'))).toEqual([]);
  });
});
