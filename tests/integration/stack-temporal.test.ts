import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import {
  bundleWorkflowCode,
  DefaultLogger,
  NativeConnection,
  Runtime,
  Worker,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stackStatus } from '../../deploy/stack/stack';
import { loadConfig } from '../../platform/config';
import { createDataConverter, createTemporalClient } from '../../platform/temporal';
import * as activities from './fixtures/stack-probe-activities';
import type { stackProbeFailingWorkflow, stackProbeWorkflow } from './fixtures/stack-probe-workflows';

const workflowsPath = fileURLToPath(new URL('./fixtures/stack-probe-workflows.ts', import.meta.url));

/** Every byte string and string in a raw (not decoded) history, so a search cannot miss a payload. */
function rawBytes(value: unknown, out: Buffer[] = []): Buffer[] {
  if (value instanceof Uint8Array) out.push(Buffer.from(value));
  else if (typeof value === 'string') out.push(Buffer.from(value));
  else if (Array.isArray(value)) for (const v of value) rawBytes(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) rawBytes(v, out);
  return out;
}

describe('Temporal (real dev server, real worker, encrypted payloads)', () => {
  const config = loadConfig({ fresh: true });
  const taskQueue = `stack-probe-${crypto.randomBytes(4).toString('hex')}`;
  let bundle: WorkflowBundleWithSourceMap;
  let worker: Worker;
  let running: Promise<void>;
  let nativeConnection: NativeConnection;
  let client: Client;
  let rawConnection: Connection;
  let rawClient: Client;

  beforeAll(async () => {
    // The probe failure is expected; keep the SDK's WARN lines about it out of the test output.
    Runtime.install({ logger: new DefaultLogger('ERROR') });
    // Bundling the TypeScript workflow file is what every worker in this project does; prove it works under vitest.
    bundle = await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('ERROR') });
    nativeConnection = await NativeConnection.connect({ address: config.temporal.address });
    worker = await Worker.create({
      connection: nativeConnection,
      namespace: config.temporal.namespace,
      taskQueue,
      workflowBundle: bundle,
      activities,
      dataConverter: createDataConverter(config),
    });
    running = worker.run();
    client = await createTemporalClient(config);
    rawConnection = await Connection.connect({ address: config.temporal.address });
    // No data converter: what an operator with Temporal access but without the key would see.
    rawClient = new Client({ connection: rawConnection, namespace: config.temporal.namespace });
  });

  afterAll(async () => {
    worker?.shutdown();
    await running;
    await nativeConnection?.close();
    await client?.connection.close();
    await rawConnection?.close();
  });

  it('stack status checks only the services asked for', async () => {
    const states = await stackStatus(config, ['temporal']);
    expect(states.map((s) => [s.name, s.healthy])).toEqual([['temporal', true]]);
  });

  it('runs a workflow with an activity; the history holds no plaintext, and decodes with the codec', async () => {
    const marker = `PLAINTEXT-MARKER-${crypto.randomBytes(6).toString('hex')}`;
    const workflowId = `stack-probe-${crypto.randomUUID()}`;
    const handle = await client.workflow.start<typeof stackProbeWorkflow>('stackProbeWorkflow', {
      taskQueue,
      workflowId,
      args: [{ marker }],
    });
    expect(await handle.result()).toEqual({ tagged: `${marker}:tagged-by-activity` });

    const history = await rawClient.workflow.getHandle(workflowId).fetchHistory();
    const events = history.events ?? [];
    expect(events.some((e) => e.activityTaskCompletedEventAttributes)).toBe(true);
    const bytes = Buffer.concat(rawBytes(history));
    expect(bytes.includes(Buffer.from('PLAINTEXT-MARKER'))).toBe(false);
    expect(bytes.includes(Buffer.from('tagged-by-activity'))).toBe(false);
    expect(bytes.includes(Buffer.from('binary/encrypted'))).toBe(true);

    // Without the codec the result is ciphertext, not the value.
    const encoding = events.find((e) => e.workflowExecutionCompletedEventAttributes)
      ?.workflowExecutionCompletedEventAttributes?.result?.payloads?.[0]?.metadata?.encoding;
    expect(Buffer.from(encoding ?? new Uint8Array()).toString()).toBe('binary/encrypted');
  });

  it('encrypts failure messages too', async () => {
    const marker = `FAILURE-MARKER-${crypto.randomBytes(6).toString('hex')}`;
    const workflowId = `stack-probe-fail-${crypto.randomUUID()}`;
    const handle = await client.workflow.start<typeof stackProbeFailingWorkflow>(
      'stackProbeFailingWorkflow',
      { taskQueue, workflowId, args: [{ marker }] },
    );
    const failure = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    // With the codec, the message is readable again.
    const cause = (failure as WorkflowFailedError).cause;
    const messages = [cause?.message, cause?.cause instanceof Error ? cause.cause.message : undefined].join(
      ' ',
    );
    expect(messages).toContain(marker);

    const history = await rawClient.workflow.getHandle(workflowId).fetchHistory();
    const bytes = Buffer.concat(rawBytes(history));
    expect(bytes.includes(Buffer.from('FAILURE-MARKER'))).toBe(false);
    expect(bytes.includes(Buffer.from('probe failure carrying'))).toBe(false);
    // The failure type is not secret and stays readable, so the event is really there.
    expect(bytes.includes(Buffer.from('StackProbeFailure'))).toBe(true);
  });
});
