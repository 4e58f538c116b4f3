import { afterAll, describe, expect, it } from 'vitest';
import { mapBuffer, validateFhirResource } from '../mappers/index';
import type { SourceFormat } from '../mappers/types';
import { NotSupportedError, TributaryError } from '../platform/errors';
import { createKeyService } from '../deid/key-service';
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
