import { describe, expect, it } from 'vitest';
import { errorToOperationOutcome, NotSupportedError, toError, TributaryError } from './errors';

describe('toError', () => {
  it('returns Errors unchanged', () => {
    const e = new RangeError('r');
    expect(toError(e)).toBe(e);
  });

  it('wraps thrown strings (dicom-parser style)', () => {
    const e = toError('dicomParser.readPart10Header: DICM prefix not found');
    expect(e).toBeInstanceOf(TributaryError);
    expect(e.message).toBe('dicomParser.readPart10Header: DICM prefix not found');
    expect((e as TributaryError).code).toBe('exception');
  });

  it('unwraps dicom-parser {exception, dataSet} objects as structure errors', () => {
    const e = toError({ exception: 'buffer overrun', dataSet: { elements: {} } }) as TributaryError;
    expect(e.message).toBe('buffer overrun');
    expect(e.code).toBe('structure');
  });

  it.each([
    [404, 'processing', true],
    [429, 'throttled', false],
    [408, 'processing', false],
    [503, 'transient', false],
  ] as const)('maps fhir-kit-client HTTP %i to %s (nonRetryable %s)', (status, code, nonRetryable) => {
    const e = toError({ response: { status, data: {} } }) as TributaryError;
    expect(e.message).toBe(`HTTP ${status}`);
    expect(e.code).toBe(code);
    expect(e.nonRetryable).toBe(nonRetryable);
  });

  it("reads fhir-kit-client 2.x's Error with a response, and drops its message (the URL)", () => {
    const thrown = Object.assign(new Error('HTTP 413: POST http://fhir.example/fhir?patient=Smith'), {
      response: { status: 413, data: { resourceType: 'OperationOutcome', issue: [{ code: 'too-costly' }] } },
    });
    const e = toError(thrown) as TributaryError;
    expect(e).toBeInstanceOf(TributaryError);
    expect(e.message).toBe('HTTP 413 (too-costly)');
    expect(e.nonRetryable).toBe(true);
  });

  it('adds the OperationOutcome issue code but not its diagnostics', () => {
    const e = toError({
      response: {
        status: 422,
        data: {
          resourceType: 'OperationOutcome',
          issue: [{ code: 'invalid', diagnostics: 'Patient John Smith rejected' }],
        },
      },
    });
    expect(e.message).toBe('HTTP 422 (invalid)');
    expect(e.message).not.toContain('Smith');
  });

  it('uses a message property of plain objects, and describes anything else by type only', () => {
    expect(toError({ message: 'plain object' }).message).toBe('plain object');
    expect(toError(42).message).toBe('unexpected thrown value of type number');
    expect(toError(undefined).message).toBe('unexpected thrown value of type undefined');
  });
});

describe('errors as OperationOutcome', () => {
  it('keeps code and location', () => {
    const outcome = errorToOperationOutcome(
      new TributaryError('PID-7: not a date', { code: 'value', location: 'PID-7' }),
    );
    expect(outcome).toEqual({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'value', diagnostics: 'PID-7: not a date', location: ['PID-7'] }],
    });
  });

  it('marks not-supported as such', () => {
    const e = new NotSupportedError('bulk export');
    expect(e).toMatchObject({
      code: 'not-supported',
      nonRetryable: true,
      message: 'not supported: bulk export',
    });
    expect(errorToOperationOutcome(e).issue[0].code).toBe('not-supported');
  });
});
