import type { OperationOutcomeIssue, IssueCode } from '../platform/errors';
import { TributaryError, toError } from '../platform/errors';
import type { FhirResource, MapContext, MapResult } from './types';
import { validateFhirResource } from './validate';

/** A record the mapper cannot map: location (inside the record) and a value-free reason. */
export class RecordError extends TributaryError {
  constructor(message: string, location: string, code: IssueCode = 'invalid') {
    super(message, { code, location, nonRetryable: true });
  }
}

/** A record location given as text, or as a function that builds it only when an issue needs it. */
function at(where: string | (() => string)): string {
  return typeof where === 'string' ? where : where();
}

export function emptyResult(): MapResult {
  return { resources: [], issues: [], recordsIn: 0, recordsMapped: 0, recordsRejected: 0 };
}

/**
 * Collects one mapping run. Each input record goes through `record()`: its resources are validated together and the
 * record is kept whole or rejected whole (so no resource references a sibling that was dropped).
 */
export class RecordSink {
  readonly result: MapResult = emptyResult();
  private readonly validate: boolean;

  constructor(private readonly ctx: MapContext) {
    this.validate = ctx.validate !== false;
  }

  where(location: string): string {
    return `${this.ctx.sourceFile}:${location}`;
  }

  issue(
    severity: OperationOutcomeIssue['severity'],
    code: IssueCode,
    location: string,
    diagnostics: string,
    expression?: string[],
  ): void {
    this.result.issues.push({
      severity,
      code,
      diagnostics,
      location: [this.where(location)],
      ...(expression ? { expression } : {}),
    });
  }

  /** A record that produced nothing: counted in and rejected, with an error issue. */
  reject(location: string, reason: string, code: IssueCode = 'invalid'): void {
    this.result.recordsIn++;
    this.result.recordsRejected++;
    this.issue('error', code, location, reason);
  }

  /**
   * Map one record (or `count` input records that become resources together, e.g. samples of one window). The
   * builder throws RecordError (or anything) to reject it.
   */
  record(where: string | (() => string), build: () => FhirResource[], count = 1): boolean {
    this.result.recordsIn += count;
    let resources: FhirResource[];
    try {
      resources = build();
    } catch (e) {
      this.result.recordsRejected += count;
      if (e instanceof RecordError)
        this.issue('error', e.code, `${at(where)}${e.location ? `:${e.location}` : ''}`, e.message);
      else this.issue('error', 'exception', at(where), `mapping failed: ${toError(e).name}`);
      return false;
    }
    if (resources.length === 0) {
      this.result.recordsRejected += count;
      this.issue('error', 'not-supported', at(where), 'record produced no resources');
      return false;
    }
    if (this.validate) {
      let bad = false;
      for (const r of resources) {
        const issues = validateFhirResource(r);
        if (issues.length === 0) continue;
        bad = true;
        for (const i of issues)
          this.issue(
            'error',
            i.code,
            at(where),
            `${r.resourceType} fails FHIR R4 validation: ${i.diagnostics ?? 'invalid'}`,
            i.expression,
          );
      }
      if (bad) {
        this.result.recordsRejected += count;
        return false;
      }
    }
    this.result.recordsMapped += count;
    for (const r of resources) this.result.resources.push(r);
    return true;
  }

  /** Hand over what was collected so far and start a fresh batch (streaming formats). */
  drain(): MapResult {
    const out = { ...this.result };
    this.result.resources = [];
    this.result.issues = [];
    this.result.recordsIn = this.result.recordsMapped = this.result.recordsRejected = 0;
    return out;
  }
}
