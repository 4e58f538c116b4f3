import { ApplicationFailure, Context } from '@temporalio/activity';
import { TributaryError, toError } from '../platform/errors';
import { log } from '../platform/log';

/**
 * The one place activity errors become Temporal failures. Our errors carry a code, a value-free message and
 * whether retrying can help; anything else (a third-party throw whose message might quote input) is reduced to
 * its class and system code, so no patient value reaches a failure, even encrypted.
 */
export function toActivityFailure(thrown: unknown, activity: string): ApplicationFailure {
  if (thrown instanceof ApplicationFailure) return thrown;
  const err = toError(thrown);
  if (err instanceof TributaryError) {
    const retryAfterMs = (err as TributaryError & { retryAfterMs?: number }).retryAfterMs;
    return ApplicationFailure.create({
      message: err.message,
      type: err.name === 'NotSupportedError' ? 'NotSupportedError' : err.code,
      nonRetryable: err.nonRetryable,
      ...(retryAfterMs !== undefined && !err.nonRetryable ? { nextRetryDelay: retryAfterMs } : {}),
    });
  }
  const code = (err as NodeJS.ErrnoException).code;
  return ApplicationFailure.create({
    message: `${activity}: unexpected ${err.name}${code ? ` (${code})` : ''}`,
    type: err.name,
    nonRetryable: false,
  });
}

/** Wrap every function of an activities object with the failure boundary and a value-free log line. */
export function withFailureBoundary<T extends Record<string, (input: any) => Promise<any>>>(
  activities: T,
): T {
  const wrapped: Record<string, (input: unknown) => Promise<unknown>> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (input: unknown) => {
      try {
        return await fn(input);
      } catch (e) {
        const failure = toActivityFailure(e, name);
        let attempt: number | undefined;
        try {
          attempt = Context.current().info.attempt;
        } catch {
          attempt = undefined; // called outside an activity (tests, the in-process bench)
        }
        log.warn('activity failed', {
          activity: name,
          type: failure.type ?? 'error',
          retryable: !failure.nonRetryable,
          attempt,
        });
        throw failure;
      }
    };
  }
  return wrapped as T;
}

/** Heartbeat when running inside a normal activity; a no-op in-process and in a local activity (no heartbeats there). */
export function heartbeat(details?: unknown): void {
  try {
    const context = Context.current();
    if (!context.info.isLocal) context.heartbeat(details);
  } catch {
    // not in an activity context: nothing to report to
  }
}

/** The last heartbeat details of a retried attempt, so it can resume rather than redo. */
export function lastHeartbeat<T>(): T | undefined {
  try {
    return Context.current().info.heartbeatDetails as T | undefined;
  } catch {
    return undefined;
  }
}
