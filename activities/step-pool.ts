import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { FhirResource, MapContext, MapResult, SourceFormat } from '../mappers/types';
import type { Institution, SourceKind } from '../schemas/institution';
import type { DeidOutcome } from './steps';
import {
  NotSupportedError,
  TributaryError,
  type IssueCode,
  type OperationOutcomeIssue,
} from '../platform/errors';

/**
 * A pool of worker threads for the CPU-bound, self-contained steps: mapping (with its FHIR validation), the verify
 * step's FHIR validation and, given the keys (StepThreadKeys), the de-identification of a batch. The activity worker
 * has one event loop; on threads, activities for different institutions map, validate and de-identify in parallel
 * with the main thread's staging I/O, queue store and Temporal traffic, on as many cores as the machine has.
 * Resources cross between threads as JSON text, not structured clones: JSON.parse takes about half the main thread's
 * time that deserializing a clone of the same batch does, and what arrives is exactly what a staged batch read back
 * would hold (no `undefined` members), so a step that takes a batch in memory sees what it would have read from
 * staging.
 */

export type StepTask =
  | { op: 'warmUp' }
  | { op: 'map'; format: SourceFormat; bytes: Uint8Array; ctx: MapContext }
  | { op: 'validate'; resources: FhirResource[] }
  | { op: 'deidentify'; institution: Institution; source: SourceKind; resources: FhirResource[] };

export type StepTaskResult<T extends StepTask> = T extends { op: 'map' }
  ? MapResult
  : T extends { op: 'validate' }
    ? OperationOutcomeIssue[][]
    : T extends { op: 'deidentify' }
      ? DeidOutcome
      : void;

/**
 * What a thread needs to de-identify: the de-identification key, and the staging folder and key where the
 * institutions' patient indexes live (activities/patient-index.ts). A thread reads the index from staging itself,
 * as a second worker process would: the batch's Patients are recorded there before the batch is de-identified.
 */
export interface StepThreadKeys {
  deid: { key: Buffer; keyId: string };
  staging: { root: string; key: Buffer };
}

/** An error thrown on a step thread, as data: class identity does not cross threads, so it is rebuilt from this. */
export interface ThreadError {
  name: string;
  message: string;
  tributary?: { code: IssueCode; location?: string; nonRetryable: boolean };
}

/** A task as it crosses to the thread: resources to validate or de-identify as JSON text. */
export type StepWireTask =
  | Exclude<StepTask, { op: 'validate' | 'deidentify' }>
  | { op: 'validate'; resources: string }
  | { op: 'deidentify'; institution: Institution; source: SourceKind; resources: string };

export type StepReply =
  { id: number; ok: true; result: unknown } | { id: number; ok: false; error: ThreadError };

export function toThreadError(e: unknown): ThreadError {
  if (e instanceof TributaryError)
    return {
      name: e.name,
      message: e.message,
      tributary: { code: e.code, location: e.location, nonRetryable: e.nonRetryable },
    };
  if (e instanceof Error) return { name: e.name, message: e.message };
  return { name: 'Error', message: String(e) };
}

/** The error the activity would have seen in-process: the same class (for its instanceof checks), message and flags. */
export function fromThreadError(t: ThreadError): Error {
  if (t.tributary) {
    if (t.name === 'NotSupportedError')
      return new NotSupportedError(t.message.replace(/^not supported: /, ''));
    const e = new TributaryError(t.message, t.tributary);
    e.name = t.name;
    return e;
  }
  const e = new Error(t.message);
  e.name = t.name;
  return e;
}

export interface StepPool {
  run<T extends StepTask>(task: T): Promise<StepTaskResult<T>>;
  /** Start every thread and load what each needs (FHIR definitions) before the first task. */
  warmUp(): Promise<void>;
  close(): Promise<void>;
  readonly size: number;
  /** Whether the threads were given the keys to de-identify (StepThreadKeys). */
  readonly deidentifies: boolean;
}

/** Threads for a machine: one per core beyond the main thread's, at least one. */
export function defaultStepThreads(): number {
  return Math.max(1, os.availableParallelism() - 1);
}

interface Slot {
  worker: Worker;
  pending: Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>;
}

const ENTRY = new URL('./step-thread.mjs', import.meta.url);

export function createStepPool(
  size: number = defaultStepThreads(),
  options: { keys?: StepThreadKeys } = {},
): StepPool {
  if (!Number.isInteger(size) || size < 1)
    throw new TributaryError('step threads must be a positive integer', {
      code: 'invalid',
      nonRetryable: true,
    });
  const slots: (Slot | undefined)[] = new Array(size).fill(undefined);
  let nextId = 1;
  let closed = false;

  function spawn(index: number): Slot {
    // execArgv: a parent's `--input-type` or `--eval` would break the thread's module load; only profiling flags pass on.
    const worker = new Worker(ENTRY, {
      execArgv: process.execArgv.filter((a) => /^--cpu-prof(-dir=.+|-name=.+|-interval=\d+)?$/.test(a)),
      workerData: { keys: options.keys },
    });
    const slot: Slot = { worker, pending: new Map() };
    // An idle pool must not keep a CLI process alive; a busy one must (see settle).
    worker.unref();
    worker.on('message', (reply: StepReply) => {
      const p = slot.pending.get(reply.id);
      if (!p) return;
      slot.pending.delete(reply.id);
      if (slot.pending.size === 0) worker.unref();
      if (reply.ok) p.resolve(reply.result);
      else p.reject(fromThreadError(reply.error));
    });
    const fail = (why: string) => {
      if (slots[index] === slot) slots[index] = undefined;
      // Retryable: the task did not fail on its input, the thread died under it (out of memory, a native crash).
      const err = new TributaryError(`step thread stopped: ${why}`, { code: 'transient' });
      for (const p of slot.pending.values()) p.reject(err);
      slot.pending.clear();
    };
    worker.on('error', (e) => fail(e.name));
    worker.on('exit', (code) => fail(`exit code ${code}`));
    slots[index] = slot;
    return slot;
  }

  function pick(): Slot {
    let best: Slot | undefined;
    for (let i = 0; i < size; i++) {
      const s = slots[i] ?? spawn(i);
      if (!best || s.pending.size < best.pending.size) best = s;
    }
    return best!;
  }

  function send(slot: Slot, task: StepWireTask): Promise<unknown> {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.worker.ref();
      slot.worker.postMessage({ id, task });
    });
  }

  return {
    size,
    deidentifies: options.keys !== undefined,
    run<T extends StepTask>(task: T): Promise<StepTaskResult<T>> {
      if (closed) return Promise.reject(new TributaryError('step pool is closed', { code: 'transient' }));
      if (task.op === 'validate')
        return send(pick(), { op: 'validate', resources: JSON.stringify(task.resources) }) as Promise<
          StepTaskResult<T>
        >;
      // Map and de-identification results come back as JSON text (see the top of this file).
      if (task.op === 'deidentify') {
        if (!options.keys)
          return Promise.reject(new NotSupportedError('de-identification on a pool without keys'));
        const wire = {
          op: 'deidentify' as const,
          institution: task.institution,
          source: task.source,
          resources: JSON.stringify(task.resources),
        };
        return send(pick(), wire).then((json) => JSON.parse(json as string)) as Promise<StepTaskResult<T>>;
      }
      if (task.op === 'map')
        return send(pick(), task).then((json) => JSON.parse(json as string)) as Promise<StepTaskResult<T>>;
      return send(pick(), task) as Promise<StepTaskResult<T>>;
    },
    async warmUp() {
      const all: Promise<unknown>[] = [];
      for (let i = 0; i < size; i++) all.push(send(slots[i] ?? spawn(i), { op: 'warmUp' }));
      await Promise.all(all);
    },
    async close() {
      closed = true;
      await Promise.all(
        slots.map(async (s, i) => {
          if (!s) return;
          slots[i] = undefined;
          await s.worker.terminate();
        }),
      );
    },
  };
}
