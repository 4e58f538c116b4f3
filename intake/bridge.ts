import type { Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { Kafka, logLevel, type Consumer, type IHeaders, type KafkaMessage, type Producer } from 'kafkajs';
import { packPage } from '../activities/pack';
import { deriveStagingKey, type BlobStore } from '../activities/staging';
import { TributaryError, toError } from '../platform/errors';
import { log } from '../platform/log';
import { TASK_QUEUES } from '../platform/temporal';
import { feedTopics, feedWorkflowId, type IngestFeedInput } from '../schemas/feed';
import type { InstitutionRegistry } from '../schemas/institution';
import { DEFAULT_MAX_MESSAGE_BYTES } from './envelope';
import { createFeedLedger } from './ledger';
import { planFeedBatch, type FeedBatchMessage, type FeedBatchPlan } from './plan';

/**
 * The Kafka → Temporal intake bridge. A consumer group reads `<prefix>.<feed>` topics in micro-batches per
 * partition; each message's envelope is checked once (intake/envelope.ts); rejected messages go to `<prefix>.dlq`
 * with their original key, bytes and headers plus `x-tributary-reason` and `x-tributary-origin`; valid ones are
 * staged (encrypted) as one page per institution and source, and one `ingestFeedWorkflow` is started per batch with
 * the id `feed:<topic>:<partition>:<firstOffset>-<lastOffset>`. The batch's offset is committed only after the DLQ
 * writes, the ledger entry and the workflow start are acknowledged: at-least-once delivery, and a redelivered
 * offset re-starts the workflow it already belongs to (already started = success), so it is processed once.
 */
export interface IntakeBridgeOptions {
  brokers: string[];
  /** Topics are `<topicPrefix>.<hl7v2|fhir|wearable|druglabel|insurance>`; the DLQ is `<topicPrefix>.dlq`. */
  topicPrefix: string;
  groupId: string;
  client: Client;
  store: BlobStore;
  registry: InstitutionRegistry;
  /** Task queue of the ingest worker that runs ingestFeedWorkflow and the page steps. */
  taskQueue?: string;
  imagingQueue?: string;
  /** Output run folder of feed pages (`<data>/out/<runId>/...`); default `feeds`. */
  runId?: string;
  route?: boolean;
  fhirServerUrl?: string;
  stowUrl?: string;
  /** At most this many messages per workflow (a fetched batch is cut into chunks of this size). Default 200. */
  maxBatchMessages?: number;
  /** How long the broker may hold a fetch to fill a batch (kafkajs maxWaitTimeInMs). Default 1000. */
  maxBatchMs?: number;
  maxMessageBytes?: number;
  partitionsConsumedConcurrently?: number;
  /** Start a new consumer group at the earliest offsets (default true: a feed is not skipped). */
  fromBeginning?: boolean;
  onBatch?: (report: FeedBatchReport) => void;
}

/** Per batch: counts, offsets and ids only. */
export interface FeedBatchReport {
  topic: string;
  partition: number;
  firstOffset: string;
  lastOffset: string;
  consumed: number;
  staged: number;
  dlq: number;
  pages: number;
  /** Messages redelivered inside a range that already has its workflow. */
  redelivered: number;
  workflowIds: string[];
  started: number;
  alreadyStarted: number;
}

export interface IntakeTotals {
  batches: number;
  consumed: number;
  staged: number;
  dlq: number;
  redelivered: number;
  started: number;
  alreadyStarted: number;
}

export interface IntakeBridge {
  totals: IntakeTotals;
  /** Every workflow id this bridge started or found already started. */
  workflowIds: Set<string>;
  stop(): Promise<void>;
}

export const DLQ_REASON_HEADER = 'x-tributary-reason';
export const DLQ_ORIGIN_HEADER = 'x-tributary-origin';

export function feedTopicNames(prefix: string): string[] {
  return feedTopics.map((t) => `${prefix}.${t}`);
}

export function dlqTopicName(prefix: string): string {
  return `${prefix}.dlq`;
}

export async function startIntakeBridge(options: IntakeBridgeOptions): Promise<IntakeBridge> {
  const maxBatch = options.maxBatchMessages ?? 200;
  if (!(maxBatch >= 1))
    throw new TributaryError('maxBatchMessages must be 1 or more', {
      code: 'invalid',
      location: 'maxBatchMessages',
      nonRetryable: true,
    });
  const runId = options.runId ?? 'feeds';
  const ctx = {
    prefix: options.topicPrefix,
    registry: options.registry,
    limits: { maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES },
  };
  const ledger = createFeedLedger(options.store);
  const totals: IntakeTotals = {
    batches: 0,
    consumed: 0,
    staged: 0,
    dlq: 0,
    redelivered: 0,
    started: 0,
    alreadyStarted: 0,
  };
  const workflowIds = new Set<string>();

  const kafka = new Kafka({
    clientId: 'tributary-intake',
    brokers: options.brokers,
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  const producer: Producer = kafka.producer({
    allowAutoTopicCreation: false,
    idempotent: true,
    maxInFlightRequests: 1,
  });
  const consumer: Consumer = kafka.consumer({
    groupId: options.groupId,
    maxWaitTimeInMs: options.maxBatchMs ?? 1000,
    allowAutoTopicCreation: false,
  });
  try {
    await admin.connect();
    // Feed topics as synth push creates them; the DLQ beside them.
    await admin.createTopics({
      topics: [...feedTopicNames(options.topicPrefix), dlqTopicName(options.topicPrefix)].map((topic) => ({
        topic,
        numPartitions: 3,
      })),
      waitForLeaders: true,
    });
    await admin.disconnect();
    await producer.connect();
    await consumer.connect();
    await consumer.subscribe({
      topics: feedTopicNames(options.topicPrefix),
      fromBeginning: options.fromBeginning ?? true,
    });
  } catch (e) {
    await Promise.allSettled([admin.disconnect(), producer.disconnect(), consumer.disconnect()]);
    throw new TributaryError(`intake: cannot set up the Kafka consumer: ${toError(e).message}`, {
      code: 'transient',
      location: options.brokers.join(','),
      cause: e,
    });
  }

  async function startWorkflow(input: IngestFeedInput): Promise<'started' | 'already-started'> {
    const workflowId = feedWorkflowId(input.topic, input.partition, input.firstOffset, input.lastOffset);
    workflowIds.add(workflowId);
    try {
      await options.client.workflow.start('ingestFeedWorkflow', {
        taskQueue: options.taskQueue ?? TASK_QUEUES.ingest,
        workflowId,
        args: [input],
        // A failed range may be redelivered and run again (its steps rewrite the same keys); a completed one never.
        workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
      });
      return 'started';
    } catch (e) {
      if (e instanceof WorkflowExecutionAlreadyStartedError) return 'already-started';
      throw e;
    }
  }

  async function sendToDlq(plan: FeedBatchPlan): Promise<void> {
    const dlq = plan.fresh?.dlq ?? [];
    if (dlq.length === 0) return;
    await producer.send({
      topic: dlqTopicName(options.topicPrefix),
      acks: -1,
      messages: dlq.map(({ message, reason }) => ({
        key: message.key,
        value: message.value,
        headers: {
          ...(message.headers as IHeaders | undefined),
          [DLQ_REASON_HEADER]: reason,
          [DLQ_ORIGIN_HEADER]: `${plan.topic}/${plan.partition}/${message.offset}`,
        },
      })),
    });
  }

  async function handleChunk(
    topic: string,
    partition: number,
    messages: KafkaMessage[],
  ): Promise<FeedBatchReport> {
    const batch: FeedBatchMessage[] = messages.map((m) => ({
      topic,
      partition,
      offset: m.offset,
      timestamp: m.timestamp,
      key: m.key,
      value: m.value,
      headers: m.headers,
    }));
    const plan = planFeedBatch(topic, partition, batch, await ledger.rangesOf(topic, partition), ctx);
    const report: FeedBatchReport = {
      topic,
      partition,
      firstOffset: batch[0].offset,
      lastOffset: batch[batch.length - 1].offset,
      consumed: batch.length,
      staged: 0,
      dlq: 0,
      pages: 0,
      redelivered: batch.length - (plan.fresh?.consumed ?? 0),
      workflowIds: [],
      started: 0,
      alreadyStarted: 0,
    };
    const count = (outcome: 'started' | 'already-started') =>
      outcome === 'started' ? report.started++ : report.alreadyStarted++;
    // Redelivered offsets: make sure their workflow exists (a crash may have come between ledger and start).
    for (const range of plan.covered) {
      const input = await ledger.inputOf(range);
      count(await startWorkflow(input));
      report.workflowIds.push(
        feedWorkflowId(input.topic, input.partition, input.firstOffset, input.lastOffset),
      );
    }
    if (plan.fresh) {
      const { firstOffset, lastOffset } = plan.fresh;
      await sendToDlq(plan);
      const pages: IngestFeedInput['pages'] = [];
      for (const p of plan.fresh.pages) {
        // From the range and the page's institution and source: a redelivered range rewrites the same object.
        const rawKey = deriveStagingKey(
          `raw/${runId}/${p.institution}/${p.source}`,
          'feed',
          topic,
          String(partition),
          firstOffset,
          lastOffset,
        );
        const ref = await options.store.put(rawKey, packPage(p.page));
        pages.push({
          rawKey,
          digest: ref.digest,
          institution: p.institution,
          source: p.source,
          messages: p.page.parts.length,
        });
      }
      const input: IngestFeedInput = {
        runId,
        topic,
        partition,
        firstOffset,
        lastOffset,
        consumed: plan.fresh.consumed,
        dlq: plan.fresh.dlq.length,
        pages,
        route: options.route ?? true,
        imagingQueue: options.imagingQueue ?? TASK_QUEUES.imaging,
        fhirServerUrl: options.fhirServerUrl,
        stowUrl: options.stowUrl,
      };
      await ledger.record(input);
      count(await startWorkflow(input));
      report.workflowIds.push(feedWorkflowId(topic, partition, firstOffset, lastOffset));
      report.staged = pages.reduce((n, p) => n + p.messages, 0);
      report.dlq = input.dlq;
      report.pages = pages.length;
    }
    // Only now: everything this chunk owes is acknowledged.
    await consumer.commitOffsets([{ topic, partition, offset: plan.commitOffset }]);
    return report;
  }

  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 3,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      for (let i = 0; i < batch.messages.length; i += maxBatch) {
        if (!isRunning() || isStale()) return;
        const chunk = batch.messages.slice(i, i + maxBatch);
        let report: FeedBatchReport;
        try {
          report = await handleChunk(batch.topic, batch.partition, chunk);
        } catch (e) {
          // Nothing of this chunk is committed: kafkajs redelivers it, and the ledger sends recorded offsets back to
          // their own workflow. The error names a service or a step (our errors never carry message values).
          log.warn('intake batch failed; its offsets stay uncommitted and will be redelivered', {
            topic: batch.topic,
            partition: batch.partition,
            firstOffset: chunk[0].offset,
            error: toError(e).name,
          });
          throw e;
        }
        resolveOffset(chunk[chunk.length - 1].offset);
        await heartbeat();
        totals.batches++;
        totals.consumed += report.consumed;
        totals.staged += report.staged;
        totals.dlq += report.dlq;
        totals.redelivered += report.redelivered;
        totals.started += report.started;
        totals.alreadyStarted += report.alreadyStarted;
        options.onBatch?.(report);
      }
    },
  });
  consumer.on(consumer.events.CRASH, (event) => {
    // kafkajs restarts the consumer from the last committed offset; the error names a broker or a step, not data.
    log.warn('intake consumer crashed; restarting from the committed offsets', {
      error: toError(event.payload.error).name,
      restart: event.payload.restart,
    });
  });

  return {
    totals,
    workflowIds,
    async stop() {
      await consumer.disconnect();
      await producer.disconnect();
    },
  };
}
