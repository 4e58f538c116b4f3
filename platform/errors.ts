/**
 * One error type for the whole project, and one place where the odd things third-party libraries throw
 * (dicom-parser throws strings and `{exception, dataSet}`; fhir-kit-client throws `{response: {status, data}}`)
 * become Errors. Messages must never carry input values: name the location and the reason, not the content.
 */

export type IssueSeverity = 'fatal' | 'error' | 'warning' | 'information';

/** FHIR OperationOutcome issue codes we use (a subset of http://hl7.org/fhir/issue-type). */
export type IssueCode =
  | 'invalid'
  | 'structure'
  | 'required'
  | 'value'
  | 'invariant'
  | 'security'
  | 'not-supported'
  | 'not-found'
  | 'too-costly'
  | 'exception'
  | 'timeout'
  | 'throttled'
  | 'transient'
  | 'processing'
  | 'incomplete';

export interface TributaryErrorOptions {
  code?: IssueCode;
  /** Where: file, line/segment/field, JSON path, DICOM tag. Never the value. */
  location?: string;
  cause?: unknown;
  /** Retrying cannot help (bad data, bad config). Temporal activities map this to a non-retryable failure. */
  nonRetryable?: boolean;
}

export class TributaryError extends Error {
  readonly code: IssueCode;
  readonly location?: string;
  readonly nonRetryable: boolean;

  constructor(message: string, options: TributaryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TributaryError';
    this.code = options.code ?? 'processing';
    this.location = options.location;
    this.nonRetryable = options.nonRetryable ?? false;
  }
}

/** A capability that is not built. It never returns a plausible value; it says so. */
export class NotSupportedError extends TributaryError {
  constructor(what: string) {
    super(`not supported: ${what}`, { code: 'not-supported', nonRetryable: true });
    this.name = 'NotSupportedError';
  }
}

/** Normalize anything thrown into an Error, at the boundary with third-party code. */
export function toError(thrown: unknown): Error {
  // fhir-kit-client 2.x throws an Error carrying the response; its message names the URL, ours the status.
  if (thrown instanceof Error && !hasResponseStatus(thrown)) return thrown;
  if (typeof thrown === 'string') return new TributaryError(thrown, { code: 'exception' });
  if (thrown && typeof thrown === 'object') {
    const o = thrown as Record<string, unknown>;
    // dicom-parser: { exception: string, dataSet }
    if (typeof o.exception === 'string') return new TributaryError(o.exception, { code: 'structure' });
    // fhir-kit-client: an Error or a plain object with { response: { status, data } }
    const response = o.response as { status?: number; data?: unknown } | undefined;
    if (response && typeof response.status === 'number') {
      const code: IssueCode =
        response.status === 429 ? 'throttled' : response.status >= 500 ? 'transient' : 'processing';
      return new TributaryError(`HTTP ${response.status}${describeOutcome(response.data)}`, {
        code,
        nonRetryable:
          response.status >= 400 &&
          response.status < 500 &&
          response.status !== 429 &&
          response.status !== 408,
      });
    }
    if (typeof o.message === 'string') return new TributaryError(o.message, { code: 'exception' });
  }
  return new TributaryError(`unexpected thrown value of type ${typeof thrown}`, { code: 'exception' });
}

function hasResponseStatus(e: Error): boolean {
  return typeof (e as { response?: { status?: unknown } }).response?.status === 'number';
}

function describeOutcome(data: unknown): string {
  const d = data as { resourceType?: string; issue?: { code?: string; diagnostics?: string }[] } | undefined;
  if (d?.resourceType === 'OperationOutcome' && Array.isArray(d.issue) && d.issue[0]) {
    return ` (${d.issue[0].code ?? 'unknown'})`;
  }
  return '';
}

export interface OperationOutcomeIssue {
  severity: IssueSeverity;
  code: IssueCode;
  diagnostics?: string;
  location?: string[];
  expression?: string[];
}

export interface OperationOutcome {
  resourceType: 'OperationOutcome';
  issue: OperationOutcomeIssue[];
}

/** Build a FHIR OperationOutcome with one issue. */
export function createOperationOutcome(
  issue: OperationOutcomeIssue | OperationOutcomeIssue[],
): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: Array.isArray(issue) ? issue : [issue] };
}

/** An error as a FHIR OperationOutcome (the error message is already value-free by construction). */
export function errorToOperationOutcome(
  thrown: unknown,
  severity: IssueSeverity = 'error',
): OperationOutcome {
  const err = toError(thrown);
  const te = err instanceof TributaryError ? err : undefined;
  return createOperationOutcome({
    severity,
    code: te?.code ?? 'exception',
    diagnostics: err.message,
    ...(te?.location ? { location: [te.location] } : {}),
  });
}
