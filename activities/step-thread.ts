import { parentPort, workerData } from 'node:worker_threads';
import { createDeidEngine, createKeyService, type DeidEngine, type KeyService, type ProfileName } from '../deid/index';
import { mapBuffer, validateFhirResource, warmUpValidator } from '../mappers/index';
import { lookupsOf } from './patient-slice';
import { toThreadError, type StepReply, type StepTask, type StepThreadData, type ThreadDeidResult } from './step-pool';

/** The thread side of activities/step-pool.ts: runs one task at a time, replies with its result or its error. */

const data = (workerData ?? {}) as StepThreadData;
let keyService: KeyService | undefined;
// One engine per profile and reference date, kept like the main thread's (compiled policies, walker caches).
const engines = new Map<string, DeidEngine>();

function engineFor(task: { profile: ProfileName; referenceDate: number }): DeidEngine {
  const cacheKey = `${task.profile}|${task.referenceDate}`;
  let engine = engines.get(cacheKey);
  if (!engine) {
    if (!data.deidKey) throw new Error('this step thread has no de-identification key');
    // Structured clone delivers the key's Buffer as a Uint8Array.
    keyService ??= createKeyService({ key: Buffer.from(data.deidKey.key), keyId: data.deidKey.keyId });
    engine = createDeidEngine({ profile: task.profile, keyService, referenceDate: new Date(task.referenceDate) });
    engines.set(cacheKey, engine);
  }
  return engine;
}

function deidentify(task: Extract<StepTask, { op: 'deidentify' }>): ThreadDeidResult {
  const lookups = lookupsOf(task.resources, task.patients);
  const result = engineFor(task).deidentifyResources(task.resources, {
    institution: task.institution,
    linkageFor: lookups.linkageFor,
    patientFor: lookups.patientFor,
  });
  if (lookups.unpredicted()) return { unpredicted: true };
  return { outputs: result.outputs, quarantined: result.quarantined };
}

async function run(task: StepTask): Promise<unknown> {
  switch (task.op) {
    case 'warmUp':
      warmUpValidator();
      for (const profile of task.deid?.profiles ?? []) engineFor({ profile, referenceDate: task.deid!.referenceDate });
      return undefined;
    case 'map':
      // Structured clone delivers a Uint8Array; the mappers read it as the Buffer it was.
      return mapBuffer(task.format, Buffer.from(task.bytes.buffer, task.bytes.byteOffset, task.bytes.byteLength), task.ctx);
    case 'validate':
      return task.resources.map((r) => validateFhirResource(r));
    case 'deidentify':
      return deidentify(task);
  }
}

const port = parentPort;
if (!port) throw new Error('activities/step-thread.ts runs only as a worker thread');
port.on('message', (msg: { id: number; task: StepTask }) => {
  const reply = (r: StepReply) => {
    try {
      port.postMessage(r);
    } catch (e) {
      // A result that cannot be cloned must still answer, or the activity waits for ever.
      port.postMessage({ id: msg.id, ok: false, error: toThreadError(e) } satisfies StepReply);
    }
  };
  run(msg.task).then(
    (result) => reply({ id: msg.id, ok: true, result }),
    (e: unknown) => reply({ id: msg.id, ok: false, error: toThreadError(e) }),
  );
});
