import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mapBuffer, validateFhirResource } from '../mappers/index';
import type { SourceFormat } from '../mappers/types';
import { NotSupportedError, TributaryError } from '../platform/errors';
import { createKeyService } from '../deid/key-service';
import type { Institution } from '../schemas/institution';
import { createPatientIndex } from './patient-index';
import { createFileBlobStore } from './staging';
import { createStepPool, fromThreadError, toThreadError, type StepPool } from './step-pool';
import { createStepLibrary } from './steps';

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
    const run = pool.run({
      op: 'map',
      format: 'no-such-format' as SourceFormat,
      bytes: Buffer.from(''),
      ctx: { institution: 'a', sourceFile: 'f' },
    });
    await expect(run).rejects.toBeInstanceOf(NotSupportedError);
    await expect(run).rejects.toMatchObject({
      message: 'not supported: map format no-such-format',
      code: 'not-supported',
      nonRetryable: true,
    });

    const e = fromThreadError(
      toThreadError(
        new TributaryError('a file the mapper cannot read', {
          code: 'structure',
          location: 'f.xml',
          nonRetryable: true,
        }),
      ),
    );
    expect(e).toBeInstanceOf(TributaryError);
    expect(e).not.toBeInstanceOf(NotSupportedError);
    expect(e).toMatchObject({
      name: 'TributaryError',
      message: 'a file the mapper cannot read',
      code: 'structure',
      location: 'f.xml',
      nonRetryable: true,
    });
    const plain = fromThreadError(toThreadError(new RangeError('boom')));
    expect(plain).not.toBeInstanceOf(TributaryError);
    expect(plain).toMatchObject({ name: 'RangeError', message: 'boom' });
  });

  it('de-identifies on a thread exactly as in this thread, with Patients of earlier batches read from staging', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'step-pool-deid-'));
    const deidKey = { key: crypto.randomBytes(32), keyId: 'pool-test' };
    const stagingKey = crypto.randomBytes(32);
    const keyed = createStepPool(1, { keys: { deid: deidKey, staging: { root, key: stagingKey } } });
    try {
      const institution: Institution = {
        id: 'inst-a',
        name: 'Inst A',
        locale: 'en-US',
        timezone: 'America/Chicago',
        ehr: { format: 'hl7v2', encoding: 'utf-8' },
        imaging: { modalities: ['CT'], manufacturer: 'X' },
        wearable: { format: 'apple-health' },
        druglabel: { format: 'spl' },
        insurance: { format: 'pdex-formulary' },
      };
      const local = createStepLibrary({ keyService: createKeyService(deidKey) });
      const patient = {
        resourceType: 'Patient',
        id: 'p1',
        identifier: [{ system: 'urn:mrn', value: 'MRN778812' }],
        name: [{ family: 'Halvorsen', given: ['Ingrid'] }],
        birthDate: '1961-04-09',
      };
      // An earlier batch recorded its Patient in the institution's index, as the deidentify step does.
      const index = createPatientIndex(createFileBlobStore({ root, key: { key: stagingKey } }));
      await index.record(institution.id, [
        { ref: 'Patient/p1', raw: patient, ...local.linkPatient(patient, institution) },
      ]);
      const observation = (id: string, patientId: string, extra: Record<string, unknown> = {}) => ({
        resourceType: 'Observation',
        id,
        status: 'final',
        code: { text: 'note' },
        subject: { reference: `Patient/${patientId}` },
        ...extra,
      });
      const batch = [
        observation('o1', 'p1', {
          effectiveDateTime: '2024-03-05T10:00:00Z',
          valueString: 'Ingrid Halvorsen (MRN778812, born 04/09/1961) seen by Dr. Okafor, call 555-201-7788.',
        }),
        observation('o2', 'nobody'),
        observation('o3', 'p1'),
      ];
      const onThread = await createStepLibrary({
        keyService: createKeyService(deidKey),
        pool: keyed,
      }).deidentifyResources(batch, {
        institution,
        source: 'ehr',
        patients: () => Promise.reject(new Error('the thread reads the index itself')),
      });
      const inThread = await local.deidentifyResources(batch, {
        institution,
        source: 'ehr',
        patients: () => index.load(institution.id),
      });
      expect(JSON.stringify(onThread)).toBe(JSON.stringify(inThread));
      // The index was read: the note lost the patient's name, MRN and birth date, and the unknown patient quarantined.
      expect(onThread.outputs).toHaveLength(2);
      expect(JSON.stringify(onThread.outputs)).not.toMatch(
        /Halvorsen|Ingrid|MRN778812|04\/09\/1961|555-201-7788/,
      );
      expect(onThread.quarantined.map((q) => q.rule)).toEqual(['link.unresolved-patient']);
      await expect(
        pool.run({ op: 'deidentify', institution, source: 'ehr', resources: batch }),
      ).rejects.toBeInstanceOf(NotSupportedError);
    } finally {
      await keyed.close();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('refuses work once closed', async () => {
    const p = createStepPool(1);
    await p.warmUp();
    await p.close();
    await expect(p.run({ op: 'validate', resources: [] })).rejects.toMatchObject({ code: 'transient' });
  });
});

describe('step library warm-up', () => {
  it('starts the step threads only for a process that runs the ingest queue', async () => {
    const warmed: string[] = [];
    const pool: StepPool = {
      size: 1,
      run: () => Promise.reject(new Error('no task expected at warm-up')),
      warmUp: async () => void warmed.push('threads'),
      close: async () => undefined,
      deidentifies: false,
    };
    const steps = createStepLibrary({
      keyService: createKeyService({ key: Buffer.alloc(32, 7), keyId: 'warm-up-test' }),
      pool,
    });
    await steps.warmUp?.({ threads: false });
    expect(warmed).toEqual([]);
    await steps.warmUp?.();
    expect(warmed).toEqual(['threads']);
  });
});
