import type { Command } from 'commander';
import { z } from 'zod';
import {
  dlqTopicName,
  feedTopicNames,
  startIntakeBridge,
  type FeedBatchReport,
  type IntakeTotals,
} from '../../intake/bridge';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../../intake/envelope';
import { openStagingStore } from '../../activities/runtime';
import { loadConfig, parseAtEdge } from '../../platform/config';
import { loadInstitutionRegistry } from '../../platform/institutions';
import { TASK_QUEUES, createTemporalClient } from '../../platform/temporal';

const intakeRunOptionsSchema = z.object({
  topics: z.string().regex(/^[A-Za-z0-9._-]{1,200}$/, 'a Kafka topic prefix (letters, digits, . _ -)'),
  group: z.string().min(1).max(200),
  maxBatch: z.coerce.number().int().min(1).max(10_000),
  maxWaitMs: z.coerce.number().int().min(10).max(60_000),
  maxMessageBytes: z.coerce.number().int().min(1),
  runId: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'lower-case letters, digits and dashes'),
  taskQueue: z.string().min(1),
  imagingQueue: z.string().min(1),
  route: z.boolean(),
  fromBeginning: z.boolean(),
});

/** One line per micro-batch: offsets and counts only. */
export function formatBatchLine(r: FeedBatchReport): string {
  const what =
    r.redelivered === r.consumed
      ? `redelivered, workflow already started (${r.alreadyStarted})`
      : `${r.staged} staged in ${r.pages} page${r.pages === 1 ? '' : 's'}, ${r.dlq} to DLQ${r.redelivered ? `, ${r.redelivered} redelivered` : ''}; ` +
        `workflow ${r.started ? 'started' : 'already started'}`;
  return `${r.topic} p${r.partition} ${r.firstOffset}-${r.lastOffset}: ${r.consumed} consumed, ${what}`;
}

export function formatTotals(t: IntakeTotals): string {
  return `${t.batches} batches, ${t.consumed} messages consumed: ${t.staged} staged, ${t.dlq} to DLQ, ${t.redelivered} redelivered; ${t.started} workflows started, ${t.alreadyStarted} already started`;
}

export function registerIntake(program: Command): void {
  const intake = program
    .command('intake')
    .description(
      'The Kafka intake bridge: hospital feed topics → staged pages → ingestFeedWorkflow (needs `tributary worker` running)',
    );

  intake
    .command('run')
    .description(
      'Consume the feed topics until Ctrl-C, in micro-batches per partition; rejected messages go to <prefix>.dlq',
    )
    .option(
      '--topics <prefix>',
      'topic prefix: reads <prefix>.hl7v2|fhir|wearable|druglabel|insurance, writes <prefix>.dlq',
      'tributary.feeds',
    )
    .option(
      '--group <id>',
      'Kafka consumer group (a new group starts at the earliest offsets)',
      'tributary-intake',
    )
    .option('--max-batch <n>', 'at most this many messages per feed workflow', '200')
    .option('--max-wait-ms <ms>', 'how long the broker may hold a fetch to fill a batch', '1000')
    .option('--max-message-bytes <n>', 'larger values go to the DLQ', String(DEFAULT_MAX_MESSAGE_BYTES))
    .option('--run-id <id>', 'output folder of feed pages under <data>/out', 'feeds')
    .option('--task-queue <name>', "the ingest worker's task queue", TASK_QUEUES.ingest)
    .option('--imaging-queue <name>', "the imaging worker's task queue", TASK_QUEUES.imaging)
    .option('--no-route', 'do not route work items to the annotation queues')
    .option('--latest', 'a new consumer group starts at the latest offsets instead of the earliest')
    .addHelpText(
      'after',
      `
What happens to each message:
  - Its headers (institution, source, format, content-type, message-id) are checked against the institution
    registry; the key must be the institution id. A missing or unknown institution, a format that is not the
    registry's for that source, an empty or oversize value: the message goes to <prefix>.dlq with its original
    key, bytes and headers plus x-tributary-reason (which header or field, and why; never a value) and
    x-tributary-origin (<topic>/<partition>/<offset>).
  - Valid messages are staged encrypted, one page per institution and source, and one workflow per batch is
    started with the id feed:<topic>:<partition>:<firstOffset>-<lastOffset>.
  - Offsets are committed after the DLQ writes and the workflow start are acknowledged. A redelivered offset
    (restart, new group, seek) re-starts the workflow it already belongs to: nothing is processed twice.

Examples:
  npx tributary worker &                      the worker that runs the feed workflows
  npx tributary synth push --dir data/synth   hospitals push feeds to tributary.feeds.*
  npx tributary intake run
  npx tributary intake run --topics it.feeds --group replay-1 --max-batch 50`,
    )
    .action(async (raw: Record<string, unknown>) => {
      const opts = parseAtEdge(
        intakeRunOptionsSchema,
        { ...raw, fromBeginning: !raw.latest },
        'tributary intake run options',
      );
      const config = loadConfig();
      const client = await createTemporalClient(config);
      const bridge = await startIntakeBridge({
        brokers: config.kafka.brokers,
        topicPrefix: opts.topics,
        groupId: opts.group,
        client,
        store: openStagingStore(config),
        registry: loadInstitutionRegistry(),
        taskQueue: opts.taskQueue,
        imagingQueue: opts.imagingQueue,
        runId: opts.runId,
        route: opts.route,
        maxBatchMessages: opts.maxBatch,
        maxBatchMs: opts.maxWaitMs,
        maxMessageBytes: opts.maxMessageBytes,
        fromBeginning: opts.fromBeginning,
        onBatch: (r) => process.stdout.write(formatBatchLine(r) + '\n'),
      });
      process.stderr.write(
        `intake consuming ${feedTopicNames(opts.topics).join(', ')} as group ${opts.group}; DLQ ${dlqTopicName(opts.topics)}; workflows on ${opts.taskQueue} (Ctrl-C stops)\n`,
      );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await bridge.stop();
      await client.connection.close();
      process.stdout.write(formatTotals(bridge.totals) + '\n');
    });
}
