import { parentPort, workerData } from 'node:worker_threads';
import { createKeyService } from '../deid/key-service';
import { mapBuffer, validateFhirResource, warmUpValidator } from '../mappers/index';
import type { FhirResource } from '../mappers/types';
import { createPatientIndex } from './patient-index';
import { createFileBlobStore } from './staging';
import { toThreadError, type StepReply, type StepThreadKeys, type StepWireTask } from './step-pool';
import { createStepLibrary, type StepLibrary } from './steps';

/** The thread side of activities/step-pool.ts: runs one task at a time, replies with its result or its error. */

const keys = (workerData as { keys?: StepThreadKeys } | null)?.keys;

/** De-identification in this thread: its own engines, and its own reader of the staged patient indexes. */
let deid: { steps: StepLibrary; patients: ReturnType<typeof createPatientIndex> } | undefined;
function deidOnThread(): NonNullable<typeof deid> {
  if (!keys) throw new Error('step thread started without de-identification keys');
  deid ??= {
    // Structured clone delivers the keys as Uint8Arrays; the key service and the store take Buffers.
    steps: createStepLibrary({
      keyService: createKeyService({ key: Buffer.from(keys.deid.key), keyId: keys.deid.keyId }),
    }),
    patients: createPatientIndex(
      createFileBlobStore({ root: keys.staging.root, key: { key: Buffer.from(keys.staging.key) } }),
    ),
  };
  return deid;
}

async function run(task: StepWireTask): Promise<unknown> {
  switch (task.op) {
    case 'warmUp':
      // The library's warm-up loads the validator too, and the de-identification engines.
      if (keys) await deidOnThread().steps.warmUp?.();
      else warmUpValidator();
      return undefined;
    case 'map':
      // Structured clone delivers a Uint8Array; the mappers read it as the Buffer it was.
      return JSON.stringify(
        await mapBuffer(
          task.format,
          Buffer.from(task.bytes.buffer, task.bytes.byteOffset, task.bytes.byteLength),
          task.ctx,
        ),
      );
    case 'validate':
      return (JSON.parse(task.resources) as FhirResource[]).map((r) => validateFhirResource(r));
    case 'deidentify': {
      const { steps, patients } = deidOnThread();
      const outcome = await steps.deidentifyResources(JSON.parse(task.resources) as FhirResource[], {
        institution: task.institution,
        source: task.source,
        patients: () => patients.load(task.institution.id),
      });
      return JSON.stringify(outcome);
    }
  }
}

const port = parentPort;
if (!port) throw new Error('activities/step-thread.ts runs only as a worker thread');
port.on('message', (msg: { id: number; task: StepWireTask }) => {
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
