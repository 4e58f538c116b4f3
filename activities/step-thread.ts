import { parentPort } from 'node:worker_threads';
import { mapBuffer, validateFhirResource, warmUpValidator } from '../mappers/index';
import type { FhirResource } from '../mappers/types';
import { toThreadError, type StepReply, type StepWireTask } from './step-pool';

/** The thread side of activities/step-pool.ts: runs one task at a time, replies with its result or its error. */

async function run(task: StepWireTask): Promise<unknown> {
  switch (task.op) {
    case 'warmUp':
      warmUpValidator();
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
