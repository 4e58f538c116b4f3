import { afterAll, describe, expect, it } from 'vitest';
import { mapBuffer, validateFhirResource } from '../mappers/index';
import type { SourceFormat } from '../mappers/types';
import { NotSupportedError, TributaryError } from '../platform/errors';
import { createKeyService } from '../deid/key-service';
import type { FhirResource } from '../mappers/types';
import { loadInstitutionRegistry } from '../platform/institutions';
import { lookupsOf, patientKeysOf, slicePatients } from './patient-slice';
import { createStepPool, fromThreadError, toThreadError, type StepPool } from './step-pool';
import { createStepLibrary, type PatientLookup } from './steps';

/** Work on a step thread gives what it gives in this thread: results, issues and errors (class, message, flags). */
describe('step pool', () => {
  const pool = createStepPool(2);
  afterAll(() => pool.close());

  it('maps a file as the in-thread mapper does, issues and rejects included', async () => {
    const bytes = Buffer.from(
      [
        'MSH|^~\\&|LAB|HOSP|TRIB|TRIB|20240102030405||ORU^R01|MSG1|P|2.5',
        'PID|1||MRN123^^^HOSP^MR||Doe^Jane||19800101|F',
        'OBR|1|||1234-5^Panel^LN|||20240102030405',
        'OBX|1|NM|2345-7^Glucose^LN||95|mg/dL|70-99|N|||F|||20240102030405',
        '',
        'MSH|^~\\&|broken',
        '',
      ].join('\r'),
    );
    const ctx = { institution: 'inst-a', sourceFile: 'feed.hl7', timezone: 'America/Chicago' };
    const threaded = await pool.run({ op: 'map', format: 'hl7v2', bytes, ctx });
    const local = await mapBuffer('hl7v2', bytes, ctx);
    expect(threaded.resources.length).toBeGreaterThan(0);
    expect(threaded.recordsRejected).toBe(1);
    expect(threaded).toEqual(local);
    expect(JSON.stringify(threaded)).toBe(JSON.stringify(local));
  });

  it('returns the same validation issues, in order', async () => {
    const resources = [
      { resourceType: 'Observation', id: 'ok', status: 'final', code: { text: 'x' } },
      { resourceType: 'Observation', id: 'bad', status: 'not-a-status', valueQuantity: { value: 'nine' } },
      { resourceType: 'NotAType', id: 'x' },
    ];
    const threaded = await pool.run({ op: 'validate', resources });
    expect(threaded).toEqual(resources.map((r) => validateFhirResource(r)));
    expect(threaded[0]).toEqual([]);
    expect(threaded[1].length).toBeGreaterThan(0);
  });

  it('rethrows a thread error as the class the activities check for', async () => {
    const run = pool.run({ op: 'map', format: 'no-such-format' as SourceFormat, bytes: Buffer.from(''), ctx: { institution: 'a', sourceFile: 'f' } });
    await expect(run).rejects.toBeInstanceOf(NotSupportedError);
    await expect(run).rejects.toMatchObject({ message: 'not supported: map format no-such-format', code: 'not-supported', nonRetryable: true });

    const e = fromThreadError(toThreadError(new TributaryError('a file the mapper cannot read', { code: 'structure', location: 'f.xml', nonRetryable: true })));
    expect(e).toBeInstanceOf(TributaryError);
    expect(e).not.toBeInstanceOf(NotSupportedError);
    expect(e).toMatchObject({ name: 'TributaryError', message: 'a file the mapper cannot read', code: 'structure', location: 'f.xml', nonRetryable: true });
    const plain = fromThreadError(toThreadError(new RangeError('boom')));
    expect(plain).not.toBeInstanceOf(TributaryError);
    expect(plain).toMatchObject({ name: 'RangeError', message: 'boom' });
  });

  it('refuses work once closed', async () => {
    const p = createStepPool(1);
    await p.warmUp();
    await p.close();
    await expect(p.run({ op: 'validate', resources: [] })).rejects.toMatchObject({ code: 'transient' });
  });
});

describe('de-identification on a step thread', () => {
  const key = { key: Buffer.alloc(32, 7), keyId: 'thread-deid-test' };
  const pool = createStepPool(1, { deidKey: key });
  afterAll(() => pool.close());
  const institutions = loadInstitutionRegistry().institutions;

  // An earlier batch's Patient, known by reference, by urn:uuid and by an alias from another page.
  const earlier: FhirResource = {
    resourceType: 'Patient',
    id: 'p0',
    identifier: [{ system: 'urn:tributary:INST:mrn', value: 'MRN-000123' }],
    name: [{ family: 'Quillfeather', given: ['Araminta'] }],
    birthDate: '1931-02-03',
  };
  const batch = (inst: string): FhirResource[] => [
    { resourceType: 'Observation', id: 'o-before', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/p1' }, performer: [{ reference: 'Practitioner/dr1' }] },
    { resourceType: 'Patient', id: 'p1', identifier: [{ system: `urn:tributary:${inst}:mrn`, value: 'MRN-000999' }], name: [{ family: 'Brightwater', given: ['Linus'] }], birthDate: '1990-05-06' },
    { resourceType: 'Observation', id: 'o-earlier', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/p0' }, note: [{ text: 'Araminta Quillfeather said MRN-000123 twice' }] },
    { resourceType: 'Encounter', id: 'e-alias', status: 'finished', class: { code: 'AMB' }, subject: { reference: 'Patient/old0/_history/4' }, period: { start: '2024-01-02' } },
    { resourceType: 'Condition', id: 'c-uuid', subject: { reference: 'urn:uuid:p0' }, code: { text: 'y' }, encounter: { reference: 'Encounter/e-alias' } },
    { resourceType: 'Observation', id: 'o-history', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/p1/_history/3' }, hasMember: [{ reference: 'Observation/o-before' }] },
    { resourceType: 'Observation', id: 'o-nobody', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/nobody' } },
    { resourceType: 'Patient', name: [{ family: 'Nobody' }] },
  ];
  const lookupFor = (inst: string): PatientLookup => {
    const raw = { ...earlier, identifier: [{ system: `urn:tributary:${inst}:mrn`, value: 'MRN-000123' }] };
    const byRef = new Map<string, { linkage: string; raw: FhirResource }>();
    const entry = { linkage: createStepLibrary({ keyService: createKeyService(key) }).linkPatient(raw, institutions.find((i) => i.id === inst)!).linkage, raw };
    for (const ref of ['Patient/p0', 'urn:uuid:p0', 'Patient/old0']) byRef.set(ref, entry);
    return { linkageFor: (r) => byRef.get(r)?.linkage, patientFor: (r) => byRef.get(r)?.raw, linkageForMrn: () => undefined };
  };

  it('gives the same outputs and quarantine as the main thread, for both profiles', async () => {
    const threaded = createStepLibrary({ keyService: createKeyService(key), pool });
    const local = createStepLibrary({ keyService: createKeyService(key) });
    for (const locale of ['en-US', 'zh-CN']) {
      const institution = institutions.find((i) => i.locale === locale)!;
      const resources = batch(institution.id);
      const patients = lookupFor(institution.id);
      const a = await threaded.deidentifyResources(resources, { institution, patients });
      const b = await local.deidentifyResources(resources, { institution, patients });
      expect(JSON.stringify(a)).toBe(JSON.stringify(b));
      expect(a.outputs.length).toBe(6);
      expect(a.quarantined.map((q) => q.rule)).toEqual(['link.unresolved-patient', 'link.unlinkable-patient']);
      // The earlier Patient's linkage reached the thread under all three of its references.
      expect(JSON.stringify(a.outputs)).not.toMatch(/Quillfeather|MRN-000123/);
      const refs = a.outputs.filter((o) => o.resourceType !== 'Patient').map((o) => (o.subject as { reference: string }).reference);
      expect(new Set(refs.slice(1, 4)).size).toBe(1);
    }
  });

  it('runs the batch on the thread: every question the engine asks is in the slice', async () => {
    const institution = institutions.find((i) => i.locale === 'en-US')!;
    const resources = batch(institution.id);
    const slice = slicePatients(resources, lookupFor(institution.id));
    expect([...slice.keys()].sort()).toEqual(['Patient/old0', 'Patient/p0', 'urn:uuid:p0']);
    const r = await pool.run({ op: 'deidentify', profile: 'safe-harbor', referenceDate: Date.now(), institution: institution.id, resources, patients: slice });
    expect('unpredicted' in r).toBe(false);
  });

  it('marks a question outside the slice as unpredicted, so the batch runs again in the main thread', () => {
    const resources: FhirResource[] = [{ resourceType: 'Observation', id: 'o', subject: { reference: 'Patient/a/_history/1' } }];
    expect([...patientKeysOf(resources)].sort()).toEqual(['Patient/a', 'Patient/a/_history/1']);
    const asked = lookupsOf(resources, new Map());
    expect(asked.linkageFor('Patient/a')).toBeUndefined();
    expect(asked.patientFor('Patient/a/_history/1')).toBeUndefined();
    expect(asked.unpredicted()).toBe(false);
    expect(asked.linkageFor('Patient/b')).toBeUndefined();
    expect(asked.unpredicted()).toBe(true);
  });

  it('stays in the main thread when the pool holds no key or another one', async () => {
    const institution = institutions[0];
    const tasks: string[] = [];
    const spy = (deidKeyId: string | undefined): StepPool => ({
      size: 1,
      deidKeyId,
      run: (t) => (tasks.push(t.op), Promise.reject(new Error('no task expected'))),
      warmUp: async () => undefined,
      close: async () => undefined,
    });
    for (const p of [spy(undefined), spy('another-key')]) {
      const steps = createStepLibrary({ keyService: createKeyService(key), pool: p });
      const out = await steps.deidentifyResources(batch(institution.id), { institution, patients: lookupFor(institution.id) });
      expect(out.outputs.length).toBe(6);
    }
    expect(tasks).toEqual([]);
  });
});

describe('step library warm-up', () => {
  it('starts the step threads only for a process that runs the ingest queue', async () => {
    const warmed: string[] = [];
    const pool: StepPool = {
      size: 1,
      deidKeyId: undefined,
      run: () => Promise.reject(new Error('no task expected at warm-up')),
      warmUp: async () => void warmed.push('threads'),
      close: async () => undefined,
    };
    const steps = createStepLibrary({ keyService: createKeyService({ key: Buffer.alloc(32, 7), keyId: 'warm-up-test' }), pool });
    await steps.warmUp?.({ threads: false });
    expect(warmed).toEqual([]);
    await steps.warmUp?.();
    expect(warmed).toEqual(['threads']);
  });
});
