import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Client, Connection } from '@temporalio/client';
import { Kafka, logLevel, type Admin, type IHeaders } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestPaths } from '../../activities/runtime';
import { startIngestWorkers, type RunningWorkers } from '../../cli/commands/worker';
import {
  DLQ_ORIGIN_HEADER,
  DLQ_REASON_HEADER,
  dlqTopicName,
  feedTopicNames,
  startIntakeBridge,
  type IntakeBridge,
} from '../../intake/bridge';
import { openStagingStore } from '../../activities/runtime';
import { loadInstitutionRegistry } from '../../platform/institutions';
import { createTemporalClient } from '../../platform/temporal';
import type { IngestFeedResult } from '../../schemas/feed';
import { pushFeeds, type PushFeedsResult } from '../../synth/push';
import {
  collectHistories,
  createIngestWorld,
  publishedResourceIds,
  worldDeps,
  type IngestWorld,
} from './ingest-support';
import { findPlanted } from '../../synth/find-planted';

/**
 * The intake bridge against the real Kafka broker and Temporal server: three institutions push their feeds (a share
 * truncated on purpose) plus five messages with broken envelopes. Every message must be accounted for (staged in a
 * feed workflow's page or in the DLQ with its original bytes and a reason), the feed workflows must reconcile, a
 * second consumer group re-reading the same offsets (cut into other batches) must start nothing new and publish
 * nothing again, and no workflow id or history may hold a planted value.
 */
const INSTITUTIONS = ['sh-ruijin-north', 'riverside-general', 'lakeview-medical'];
const MAX_MESSAGE_BYTES = 200_000;

let world: IngestWorld;
let workers: RunningWorkers;
let client: Client;
let bridge: IntakeBridge | undefined;
let prefix: string;
let brokers: string[];
let push: PushFeedsResult;
let total: number;
let results: IngestFeedResult[];
let firstIds: string[];
const broken = new Map<string, { value: Buffer; reason: RegExp }>();

function outputDir(): string {
  return path.join(ingestPaths(world.config).output, 'feeds');
}

/** Every output file and a digest of its bytes: a rewrite with other content or a new file shows up. */
function snapshotOutputs(): Record<string, string> {
  const out: Record<string, string> = {};
  const root = outputDir();
  for (const f of fs.readdirSync(root, { recursive: true }).map(String).sort()) {
    const file = path.join(root, f);
    if (fs.statSync(file).isFile())
      out[f] = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  }
  return out;
}

/** Run a bridge until its group has committed every feed topic partition up to the end, then stop it. */
async function runBridge(
  groupId: string,
  maxBatchMessages: number,
  options: { temporal?: Client; topicPrefix?: string } = {},
): Promise<IntakeBridge> {
  const topicPrefix = options.topicPrefix ?? prefix;
  const b = await startIntakeBridge({
    brokers,
    topicPrefix,
    groupId,
    client: options.temporal ?? client,
    store: openStagingStore(world.config),
    registry: loadInstitutionRegistry(),
    taskQueue: world.queues.ingest,
    imagingQueue: world.queues.imaging,
    maxBatchMessages,
    maxBatchMs: 300,
    maxMessageBytes: MAX_MESSAGE_BYTES,
  });
  const admin = new Kafka({ clientId: 'intake-test-admin', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const deadline = Date.now() + 180_000;
    while (!(await caughtUp(admin, groupId, topicPrefix))) {
      if (Date.now() > deadline)
        throw new Error(
          `bridge ${groupId} did not commit every partition in 180 s (consumed ${b.totals.consumed})`,
        );
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await admin.disconnect();
    await b.stop();
  }
  return b;
}

async function caughtUp(admin: Admin, groupId: string, topicPrefix: string): Promise<boolean> {
  const topics = feedTopicNames(topicPrefix);
  const committed = await admin.fetchOffsets({ groupId, topics });
  for (const topic of topics) {
    const ends = await admin.fetchTopicOffsets(topic);
    const mine = committed.find((c) => c.topic === topic)?.partitions ?? [];
    for (const end of ends) {
      const at = mine.find((p) => p.partition === end.partition)?.offset ?? '-1';
      if (end.high !== '0' && at !== end.high) return false;
    }
  }
  return true;
}

/** Per topic partition, the workflow ranges sorted: they must tile 0..end-1 with no gap and no overlap. */
function rangesByPartition(ids: string[]): Map<string, [number, number][]> {
  const out = new Map<string, [number, number][]>();
  for (const id of ids) {
    const m = /^feed:(.+):(\d+):(\d+)-(\d+)$/.exec(id)!;
    const k = `${m[1]}/${m[2]}`;
    out.set(k, [...(out.get(k) ?? []), [Number(m[3]), Number(m[4])]]);
  }
  for (const r of out.values()) r.sort((a, b) => a[0] - b[0]);
  return out;
}

async function readDlq(
  expected: number,
): Promise<{ value: Buffer | null; headers: Record<string, string> }[]> {
  const kafka = new Kafka({ clientId: 'intake-test-dlq', brokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({
    groupId: `${prefix}-dlq-reader-${crypto.randomBytes(3).toString('hex')}`,
  });
  const seen: { value: Buffer | null; headers: Record<string, string> }[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [dlqTopicName(prefix)], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`DLQ held ${seen.length} of ${expected} messages after 60 s`)),
        60_000,
      );
      void consumer.run({
        eachMessage: async ({ message }) => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
          seen.push({ value: message.value, headers });
          if (seen.length >= expected) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    // Anything beyond the expected count would be a duplicate: give it a moment to show up.
    await new Promise((r) => setTimeout(r, 1500));
  } finally {
    await consumer.disconnect();
  }
  return seen;
}

beforeAll(async () => {
  world = await createIngestWorld('intake', { patients: 2, institutions: INSTITUTIONS });
  brokers = world.config.kafka.brokers;
  prefix = `it-intake-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
  workers = await startIngestWorkers({
    config: world.config,
    queueNames: world.queues,
    deps: worldDeps(world),
  });
  client = await createTemporalClient(world.config);
  push = await pushFeeds({
    dir: world.synthDir,
    brokers,
    topicPrefix: prefix,
    rate: 0,
    malformedShare: 0.15,
    seed: 'intake-test',
  });

  // Envelopes a hospital can get wrong; each value is marked so the DLQ copy can be compared byte for byte.
  const hl7 = (n: number) =>
    Buffer.from(`MSH|^~\\&|APP|FAC|TRIB|TRIB|20240101120000||ADT^A01|BROKEN${n}|P|2.5\rPID|1||X${n}\r`);
  const base = { source: 'ehr', format: 'hl7v2', 'content-type': 'application/hl7-v2' };
  const cases: {
    id: string;
    key?: string;
    headers: Record<string, string>;
    value: Buffer;
    reason: RegExp;
  }[] = [
    { id: 'broken-1', headers: { ...base }, value: hl7(1), reason: /^header institution: missing$/ },
    {
      id: 'broken-2',
      key: 'nowhere-general',
      headers: { ...base, institution: 'nowhere-general' },
      value: hl7(2),
      reason: /^header institution: not in the institution registry$/,
    },
    {
      id: 'broken-3',
      key: 'riverside-general',
      headers: { ...base, institution: 'riverside-general' },
      value: hl7(3),
      reason: /^header format: .*fhir-api$/,
    },
    {
      id: 'broken-4',
      key: 'sh-ruijin-north',
      headers: { ...base, institution: 'sh-ruijin-north' },
      value: Buffer.alloc(0),
      reason: /^value: empty$/,
    },
    {
      id: 'broken-5',
      key: 'sh-ruijin-north',
      headers: { ...base, institution: 'sh-ruijin-north' },
      value: Buffer.alloc(MAX_MESSAGE_BYTES + 1000, 0x41),
      reason: /^value: \d+ bytes, over the 200000-byte limit$/,
    },
  ];
  const kafka = new Kafka({ clientId: 'intake-test-producer', brokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  await producer.send({
    topic: `${prefix}.hl7v2`,
    acks: -1,
    messages: cases.map((c) => ({
      key: c.key ?? null,
      value: c.value,
      headers: { ...c.headers, 'message-id': c.id } satisfies IHeaders,
    })),
  });
  await producer.disconnect();
  for (const c of cases) broken.set(c.id, { value: c.value, reason: c.reason });
  total = push.sent + cases.length;

  bridge = await runBridge(`${prefix}-bridge`, 7);
  firstIds = [...bridge.workflowIds];
  results = await Promise.all(
    firstIds.map((id) => client.workflow.getHandle(id).result() as Promise<IngestFeedResult>),
  );
}, 600_000);

afterAll(async () => {
  await bridge?.stop().catch(() => undefined);
  await workers?.shutdown();
  await client?.connection.close();
  await world?.cleanup();
});

describe('intake bridge: Kafka feeds → feed workflows', () => {
  it('accounts for every message: consumed = staged in pages + DLQ, per workflow and in total', () => {
    expect(push.malformed).toBeGreaterThan(0);
    expect(bridge!.totals.consumed).toBe(total);
    expect(bridge!.totals.started).toBe(firstIds.length);
    const consumed = results.reduce((n, r) => n + r.consumed, 0);
    const staged = results.reduce((n, r) => n + r.staged, 0);
    const dlq = results.reduce((n, r) => n + r.dlq, 0);
    for (const r of results)
      expect(r.staged + r.dlq, `${r.topic}/${r.partition} ${r.firstOffset}-${r.lastOffset}`).toBe(r.consumed);
    expect(consumed).toBe(total);
    expect(dlq).toBe(broken.size);
    expect(staged).toBe(push.sent);
    // Batches were cut at 7 messages: more than one workflow per busy partition.
    expect(firstIds.length).toBeGreaterThan(5);
    for (const id of firstIds) expect(id).toMatch(new RegExp(`^feed:${prefix}\\.[a-z0-9]+:\\d+:\\d+-\\d+$`));
    // Per partition, the workflows' ranges tile the offsets from 0: no gap, no overlap.
    for (const [where, ranges] of rangesByPartition(firstIds)) {
      let next = 0;
      for (const [first, last] of ranges) {
        expect(first, `${where} gap or overlap`).toBe(next);
        next = last + 1;
      }
    }
  });

  it('puts every rejected envelope in the DLQ with its original bytes, headers, a value-free reason and its origin', async () => {
    const dlq = await readDlq(broken.size);
    expect(dlq).toHaveLength(broken.size);
    for (const m of dlq) {
      const id = m.headers['message-id'];
      const sent = broken.get(id);
      expect(sent, id).toBeDefined();
      expect(Buffer.compare(m.value ?? Buffer.alloc(0), sent!.value), id).toBe(0);
      expect(m.headers[DLQ_REASON_HEADER], id).toMatch(sent!.reason);
      expect(m.headers[DLQ_REASON_HEADER]).not.toContain('nowhere-general');
      expect(m.headers[DLQ_ORIGIN_HEADER], id).toMatch(new RegExp(`^${prefix}\\.hl7v2/\\d+/\\d+$`));
      expect(m.headers.source).toBe('ehr');
    }
  });

  it('completes every feed workflow with in = published + quarantined + rejected, and publishes the feeds', () => {
    let published = 0;
    let brokenSeen = 0;
    for (const r of results) {
      const c = r.counts;
      const where = `${r.topic}/${r.partition} ${r.firstOffset}-${r.lastOffset}`;
      expect(c.in, where).toBe(c.published + c.quarantined + c.rejected);
      published += c.published;
      brokenSeen += c.rejected + c.quarantined + c.pagesQuarantined;
    }
    expect(published).toBeGreaterThan(0);
    // Truncated messages are rejected or quarantined, never silently published whole.
    expect(brokenSeen).toBeGreaterThan(0);
    expect(publishedResourceIds(outputDir()).size).toBeGreaterThan(0);
  });

  it('re-reading the same offsets (a new consumer group, other batch cuts) starts no workflow and publishes nothing again', async () => {
    const before = snapshotOutputs();
    const replay = await runBridge(`${prefix}-replay`, 4);
    expect(replay.totals.consumed).toBe(total);
    expect(replay.totals.redelivered).toBe(total);
    expect(replay.totals.started).toBe(0);
    expect(replay.totals.dlq).toBe(0);
    expect(replay.totals.alreadyStarted).toBeGreaterThan(0);
    expect([...replay.workflowIds].filter((id) => !firstIds.includes(id))).toEqual([]);
    expect(snapshotOutputs()).toEqual(before);
  });

  it('keeps planted values out of workflow ids and every feed workflow history, raw and decrypted', async () => {
    expect(findPlanted(firstIds.join('\n'), world.truth)).toEqual([]);
    const histories = await collectHistories(client.connection as Connection, world.config, firstIds);
    expect(histories.events).toBeGreaterThan(firstIds.length * 5);
    expect(findPlanted(histories.raw, world.truth)).toEqual([]);
    expect(findPlanted(histories.decoded, world.truth)).toEqual([]);
    expect(histories.decoded).toContain('"rawKey":"raw/feeds/');
  });

  it('a workflow start that fails leaves the offset uncommitted; the redelivered batch starts it once, and nothing is lost', async () => {
    const faultPrefix = `${prefix}-fault`;
    const pushed = await pushFeeds({
      dir: world.synthDir,
      brokers,
      topicPrefix: faultPrefix,
      rate: 0,
      malformedShare: 0,
      seed: 'intake-fault',
      institutions: ['lakeview-medical'],
    });
    let calls = 0;
    // Temporal refuses the second start (after its range was staged and recorded): the bridge must not commit.
    const flaky = {
      workflow: {
        start: async (...args: Parameters<Client['workflow']['start']>) => {
          if (++calls === 2) throw new Error('injected: Temporal unavailable');
          return client.workflow.start(...args);
        },
      },
    } as unknown as Client;
    const b = await runBridge(`${faultPrefix}-bridge`, 5, { temporal: flaky, topicPrefix: faultPrefix });
    expect(calls).toBeGreaterThan(2);
    const ids = [...b.workflowIds];
    expect(b.totals.started).toBe(ids.length);
    const faultResults = await Promise.all(
      ids.map((id) => client.workflow.getHandle(id).result() as Promise<IngestFeedResult>),
    );
    expect(faultResults.reduce((n, r) => n + r.staged, 0)).toBe(pushed.sent);
    for (const r of faultResults)
      expect(r.counts.in).toBe(r.counts.published + r.counts.quarantined + r.counts.rejected);
    const admin = new Kafka({ clientId: 'intake-test-ends', brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      for (const [where, ranges] of rangesByPartition(ids)) {
        const [topic, partition] = [
          where.slice(0, where.lastIndexOf('/')),
          Number(where.slice(where.lastIndexOf('/') + 1)),
        ];
        const end = Number(
          (await admin.fetchTopicOffsets(topic)).find((p) => p.partition === partition)!.high,
        );
        let next = 0;
        for (const [first, last] of ranges) {
          expect(first, `${where} gap or overlap`).toBe(next);
          next = last + 1;
        }
        expect(next, `${where} end`).toBe(end);
      }
    } finally {
      await admin.disconnect();
    }
  });
});
