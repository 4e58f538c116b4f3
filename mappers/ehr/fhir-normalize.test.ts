import { basename } from 'node:path';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { patientStableId } from '../ids';
import { byType, expectReconciled, sample, sampleFiles } from '../test-support/data';
import type { MapContext } from '../types';
import { indexFhirPatients, mapFhir } from './fhir-normalize';

const ctx: MapContext = { institution: 'test-inst', sourceFile: 'in.json' };

describe('mapFhir', () => {
  it('normalizes a Synthea transaction bundle: stable ids, urn:uuid references resolved, MRN and SSN systems', () => {
    const file = sampleFiles('fhir/synthea-bundles')[0];
    const raw = JSON.parse(readFileSync(file, 'utf8'));
    const r = mapFhir(readFileSync(file), { ...ctx, sourceFile: basename(file) });
    expectReconciled(r);
    expect(r.recordsIn).toBe(raw.entry.length);
    expect(r.recordsRejected).toBe(0);
    const [patient] = byType(r, 'Patient');
    const srcPatient = raw.entry[0].resource;
    const mrn = srcPatient.identifier.find(
      (i: { type?: { coding?: { code: string }[] } }) => i.type?.coding?.[0]?.code === 'MR',
    ).value;
    expect(patient.id).toBe(patientStableId('test-inst', mrn));
    expect(patient.identifier).toEqual(
      expect.arrayContaining([
        { type: expect.anything(), system: 'urn:tributary:test-inst:mrn', value: mrn },
      ]),
    );
    const ssn = (patient.identifier as { system: string; type?: { coding: { code: string }[] } }[]).find(
      (i) => i.type?.coding[0].code === 'SS',
    );
    expect(ssn?.system).toBe('urn:oid:2.16.840.1.113883.4.1');
    const ids = new Set(r.resources.map((x) => `${x.resourceType}/${x.id}`));
    for (const res of r.resources) {
      const text = JSON.stringify(res);
      expect(text).not.toContain('"reference":"urn:uuid:');
      const subj = (res.subject ?? res.patient) as { reference?: string } | undefined;
      if (subj?.reference) expect(ids.has(subj.reference)).toBe(true);
    }
  });

  it('maps every bulk NDJSON line with its line number, and Patient references agree across files', () => {
    const patients = mapFhir(sample('fhir/bulk-ndjson-10-patients/Patient.000.ndjson'), ctx);
    const conditions = mapFhir(sample('fhir/bulk-ndjson-10-patients/Condition.000.ndjson'), {
      ...ctx,
      validate: false,
    });
    expectReconciled(patients);
    expectReconciled(conditions);
    expect(conditions.recordsMapped).toBe(555);
    const patientIds = new Set(patients.resources.map((p) => `Patient/${p.id}`));
    for (const c of conditions.resources)
      expect(patientIds.has((c.subject as { reference: string }).reference)).toBe(true);
  });

  it('maps every real FHIR sample with reconciled counts (validation is exercised above; here: structure and counts)', () => {
    for (const f of sampleFiles('fhir')) {
      const r = mapFhir(readFileSync(f), {
        ...ctx,
        sourceFile: basename(f),
        validate: f.includes('bulk-ndjson'),
      });
      expectReconciled(r);
      if (!f.endsWith('log.ndjson')) expect(r.recordsRejected).toBe(0);
      else expect(r.recordsRejected).toBe(r.recordsIn);
    }
  });

  it('references in a file read before its Patient file resolve to the MRN-based Patient id once the run is indexed', () => {
    const mr = {
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] },
      value: 'MRN-77',
    };
    const patientFile = Buffer.from(
      JSON.stringify({ resourceType: 'Patient', id: 'pt-0001', identifier: [mr] }),
    );
    const obsFile = Buffer.from(
      JSON.stringify({
        resourceType: 'Observation',
        id: 'o1',
        status: 'final',
        code: { text: 'x' },
        subject: { reference: 'Patient/pt-0001' },
      }),
    );
    // Without the index, the Observation mapped first can only derive an id from the source id: the bug this prevents.
    const alone = mapFhir(obsFile, ctx).resources[0];
    expect(alone.subject).toEqual({ reference: `Patient/${patientStableId('test-inst', 'pt-0001')}` });
    const run = { ...ctx, patientIds: new Map<string, string>() };
    indexFhirPatients(obsFile, run);
    indexFhirPatients(patientFile, run);
    const obs = mapFhir(Buffer.from(obsFile), run).resources[0];
    const patient = mapFhir(Buffer.from(patientFile), run).resources[0];
    expect(patient.id).toBe(patientStableId('test-inst', 'MRN-77'));
    expect(obs.subject).toEqual({ reference: `Patient/${patient.id}` });
  });

  it('adds UCUM codes and canonical systems', () => {
    const obs = {
      resourceType: 'Observation',
      id: 'o1',
      status: 'final',
      code: { coding: [{ system: 'urn:oid:2.16.840.1.113883.6.1', code: '2345-7' }] },
      subject: { reference: 'Patient/p1' },
      valueQuantity: { value: 5, unit: 'mg/dl' },
    };
    const r = mapFhir(Buffer.from(JSON.stringify(obs)), ctx);
    const [o] = r.resources;
    expect(o.code).toEqual({ coding: [{ system: 'http://loinc.org', code: '2345-7' }] });
    expect(o.valueQuantity).toEqual({
      value: 5,
      unit: 'mg/dl',
      system: 'http://unitsofmeasure.org',
      code: 'mg/dL',
    });
    expect(o.subject).toEqual({ reference: `Patient/${patientStableId('test-inst', 'p1')}` });
  });

  it('rejects bad lines and invalid resources with locations; wrong types fail validation', () => {
    const lines = [
      JSON.stringify({ resourceType: 'Patient', id: 'a', gender: 'female' }),
      '{"resourceType": "Patient", "id": "b", "gend',
      JSON.stringify({
        resourceType: 'Observation',
        id: 'c',
        status: 'final',
        code: { text: 'x' },
        valueQuantity: { value: 'high' },
      }),
      JSON.stringify({ resourceType: 'Patient', id: 'd', birthDate: 19900101 }),
      JSON.stringify({ id: 'e' }),
    ].join('\n');
    const r = mapFhir(Buffer.from(lines), ctx);
    expectReconciled(r);
    expect(r.recordsIn).toBe(5);
    expect(r.recordsMapped).toBe(1);
    const locs = r.issues.map((i) => i.location?.[0]);
    expect(locs).toEqual(
      expect.arrayContaining([
        'in.json:line 2',
        'in.json:line 3',
        'in.json:line 4',
        'in.json:line 5:resourceType',
      ]),
    );
    expect(r.issues.find((i) => i.location?.[0] === 'in.json:line 3')?.expression?.[0]).toMatch(
      /^Observation\.value/,
    );
    expect(JSON.stringify(r.issues)).not.toContain('19900101');
  });

  it('is idempotent across runs', () => {
    const a = mapFhir(sample('fhir/bulk-ndjson-10-patients/Encounter.000.first150.ndjson'), {
      ...ctx,
      validate: false,
    });
    const b = mapFhir(sample('fhir/bulk-ndjson-10-patients/Encounter.000.first150.ndjson'), {
      ...ctx,
      validate: false,
    });
    expect(a.resources).toEqual(b.resources);
  });
});
