/**
 * Intake bridge throughput against the local Kafka and Temporal: the feeds of a synthetic world (18 institutions x
 * --patients) pushed to a fresh topic prefix per run, then consumed by the bridge (envelope check, encrypted staging,
 * ledger, one workflow start per batch, offset commit) until its group has committed every partition. Workflows start
 * on a task queue nobody polls and are terminated afterwards: this measures the bridge, not the pipeline. Baseline in
 * the same run: a plain kafkajs consumer group reading and committing the same messages.
 *
 *   npx tsx bench/intake-bridge.ts [--runs 3] [--patients 10] [--max-batch 200]
 *
 * Prints medians over runs of wall time (the machine is shared) and the bridge/baseline ratio.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { feedTopicNames, startIntakeBridge } from '../intake/bridge';
import { openStagingStore } from '../activities/runtime';
import { loadConfig } from '../platform/config';
import { loadInstitutionRegistry } from '../platform/institutions';
import { createTemporalClient } from '../platform/temporal';
import { generateSynth } from '../synth/generate';
import { pushFeeds } from '../synth/push';
import { median } from './median';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};
const runs = Number(opt('--runs', '3'));
const patients = Number(opt('--patients', '10'));
const maxBatch = Number(opt('--max-batch', '200'));

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-intake-'));
const env = {
  ...process.env,
  TRIBUTARY_DATA_DIR: path.join(dir, 'data'),
  TRIBUTARY_STAGING_KEY: crypto.randomBytes(32).toString('base64'),
};
const config = loadConfig({ env });
const brokers = config.kafka.brokers;
generateSynth({ out: path.join(dir, 'synth'), seed: 'bench-intake', patients });
const kafka = new Kafka({ clientId: 'bench-intake', brokers, logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
const client = await createTemporalClient(config);

async function caughtUp(a: Admin, groupId: string, prefix: string): Promise<boolean> {
  const committed = await a.fetchOffsets({ groupId, topics: feedTopicNames(prefix) });
  for (const t of feedTopicNames(prefix)) {
    for (const e of await a.fetchTopicOffsets(t)) {
      const at = committed
        .find((c) => c.topic === t)
        ?.partitions.find((p) => p.partition === e.partition)?.offset;
      if (e.high !== '0' && at !== e.high) return false;
    }
  }
  return true;
}

async function waitCaughtUp(groupId: string, prefix: string): Promise<number> {
  const t0 = performance.now();
  while (!(await caughtUp(admin, groupId, prefix))) await new Promise((r) => setTimeout(r, 20));
  return (performance.now() - t0) / 1000;
}

const bridgeSeconds: number[] = [];
const baselineSeconds: number[] = [];
let messages = 0;
let workflows = 0;
try {
  for (let run = 0; run < runs; run++) {
    const prefix = `bench-intake-${process.pid}-${run}-${crypto.randomBytes(2).toString('hex')}`;
    messages = (
      await pushFeeds({
        dir: path.join(dir, 'synth'),
        brokers,
        topicPrefix: prefix,
        rate: 0,
        malformedShare: 0.02,
      })
    ).sent;

    const plain = kafka.consumer({ groupId: `${prefix}-plain`, maxWaitTimeInMs: 200 });
    await plain.connect();
    await plain.subscribe({
      topics: feedTopicNames(prefix).filter((t) => !t.endsWith('.dlq')),
      fromBeginning: true,
    });
    const tPlain = performance.now();
    await plain.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        await plain.commitOffsets([
          {
            topic: batch.topic,
            partition: batch.partition,
            offset: (BigInt(batch.lastOffset()) + 1n).toString(),
          },
        ]);
      },
    });
    await waitCaughtUp(`${prefix}-plain`, prefix);
    baselineSeconds.push((performance.now() - tPlain) / 1000);
    await plain.disconnect();

    const tBridge = performance.now();
    const bridge = await startIntakeBridge({
      brokers,
      topicPrefix: prefix,
      groupId: `${prefix}-bridge`,
      client,
      store: openStagingStore(config),
      registry: loadInstitutionRegistry(),
      taskQueue: `${prefix}-nobody-polls`,
      maxBatchMessages: maxBatch,
      maxBatchMs: 200,
    });
    await waitCaughtUp(`${prefix}-bridge`, prefix);
    bridgeSeconds.push((performance.now() - tBridge) / 1000);
    await bridge.stop();
    workflows = bridge.totals.started;
    for (const id of bridge.workflowIds)
      await client.workflow.getHandle(id).terminate('bench: nobody polls this task queue');
  }
} finally {
  await admin.disconnect();
  await client.connection.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
const b = median(bridgeSeconds);
const p = median(baselineSeconds);
process.stdout.write(
  `intake bridge, ${messages} messages (18 institutions x ${patients} patients), max batch ${maxBatch}, ${workflows} workflows per run, median of ${runs}:\n` +
    `  bridge    ${b.toFixed(2)} s  ${Math.round(messages / b)} messages/s (join, envelope check, staging, ledger, start, commit)\n` +
    `  baseline  ${p.toFixed(2)} s  ${Math.round(messages / p)} messages/s (plain consumer group: fetch + commit)\n` +
    `  ratio bridge/baseline ${(b / p).toFixed(2)}x\n`,
);
