import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import {
  DefaultLogger,
  NativeConnection,
  Runtime,
  Worker,
  bundleWorkflowCode,
  makeTelemetryFilterString,
  type LogEntry,
} from '@temporalio/worker';
import { createIngestActivities, type IngestDeps } from '../../activities/ingest';
import { fhirModeSchema, imagingModeSchema, type FhirMode, type ImagingMode } from '../../schemas/ingest';
import { createIngestDeps } from '../../activities/runtime';
import { loadConfig, parseAtEdge, type Config } from '../../platform/config';
import { TributaryError } from '../../platform/errors';
import { log } from '../../platform/log';
import {
  FAILURE_CONVERTER_PATH,
  TASK_QUEUES,
  createDataConverter,
  type TaskQueue,
} from '../../platform/temporal';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));

export interface IngestWorkerOptions {
  config: Config;
  queues?: TaskQueue[];
  /** Poll other queue names than ingest/imaging (tests on a shared server). */
  queueNames?: Partial<Record<TaskQueue, string>>;
  deps?: IngestDeps;
  /** Concurrent activities per queue (default: ingest 8, imaging 2: pixel work is CPU-bound). */
  ingestConcurrency?: number;
  imagingConcurrency?: number;
  /** FHIR-API institutions: search paging (default) or Bulk `$export`; only used when deps are built here. */
  fhirMode?: FhirMode;
  /** Imaging: file drops (default) or DICOMweb QIDO/WADO from each institution's PACS; only used when deps are built here. */
  imagingMode?: ImagingMode;
}

export interface RunningWorkers {
  workers: Worker[];
  /** Resolves when every worker has stopped. */
  done: Promise<void>;
  shutdown(): Promise<void>;
}

/** Start workers for the ingest (workflows + I/O activities) and imaging (pixel activities) task queues. */
export async function startIngestWorkers(options: IngestWorkerOptions): Promise<RunningWorkers> {
  const { config } = options;
  const queues = options.queues ?? [TASK_QUEUES.ingest, TASK_QUEUES.imaging];
  installQuietRuntime();
  let connection: NativeConnection;
  try {
    connection = await NativeConnection.connect({ address: config.temporal.address });
  } catch (e) {
    throw new TributaryError(`cannot reach Temporal at ${config.temporal.address}: ${(e as Error).message}`, {
      code: 'transient',
      cause: e,
    });
  }
  const ownDeps = options.deps
    ? undefined
    : createIngestDeps(config, { fhirMode: options.fhirMode, imagingMode: options.imagingMode });
  const deps = options.deps ?? ownDeps!;
  // Before polling: PGlite's start and the FHIR definitions would otherwise load inside the first activities.
  await deps.warmUp?.({ ingest: queues.includes(TASK_QUEUES.ingest) });
  const activities = createIngestActivities(deps);
  const dataConverter = createDataConverter(config);
  const workers: Worker[] = [];
  if (queues.includes(TASK_QUEUES.ingest)) {
    const workflowBundle = await bundleWorkflowCode({
      workflowsPath: WORKFLOWS_PATH,
      failureConverterPath: FAILURE_CONVERTER_PATH,
      logger: quietBundlerLogger,
    });
    workers.push(
      await Worker.create({
        connection,
        namespace: config.temporal.namespace,
        taskQueue: options.queueNames?.ingest ?? TASK_QUEUES.ingest,
        workflowBundle,
        activities,
        dataConverter,
        maxConcurrentActivityTaskExecutions: options.ingestConcurrency ?? 8,
      }),
    );
  }
  if (queues.includes(TASK_QUEUES.imaging)) {
    workers.push(
      await Worker.create({
        connection,
        namespace: config.temporal.namespace,
        taskQueue: options.queueNames?.imaging ?? TASK_QUEUES.imaging,
        activities,
        dataConverter,
        maxConcurrentActivityTaskExecutions: options.imagingConcurrency ?? 2,
      }),
    );
  }
  const done = Promise.all(workers.map((w) => w.run()))
    .then(() => undefined)
    .finally(async () => {
      await ownDeps?.close();
      await connection.close();
    });
  return {
    workers,
    done,
    async shutdown() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await done;
    },
  };
}

let runtimeInstalled = false;
/** The startToClose of the ingest workflows' local activities (workflows/ingest.ts: 10 minutes). */
const LOCAL_ACTIVITY_BOUND_SECONDS = 600;

/** Metadata the SDK attaches that identifies a workflow or activity without carrying its data. */
const SAFE_SDK_META = new Set([
  'namespace',
  'taskQueue',
  'workflowId',
  'runId',
  'workflowType',
  'activityId',
  'activityType',
  'attempt',
  'sdkComponent',
]);

/**
 * The SDK's own log lines can carry failure messages and stack traces from activities, which may quote a
 * third-party library's text about its input. Keep the SDK's sentence up to the first colon and only the
 * identifying metadata; the full failure stays (encrypted) in Temporal's history.
 */
export function writeRedactedSdkLog(entry: LogEntry): void {
  const fields: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(entry.meta ?? {})) {
    if (SAFE_SDK_META.has(k) && (typeof v === 'string' || typeof v === 'number')) fields[k] = v;
  }
  const message = entry.message.split(':')[0].slice(0, 120);
  // The imaging queue runs activities only, by design: the SDK's notice that its worker has no workflows is not a
  // warning here (it was the one warn line in every demo's output).
  const expected = message.startsWith('No workflows registered');
  const level = expected
    ? 'debug'
    : entry.level === 'ERROR'
      ? 'error'
      : entry.level === 'WARN'
        ? 'warn'
        : entry.level === 'INFO'
          ? 'info'
          : 'debug';
  log[level](`temporal sdk: ${message}`, fields);
}

/**
 * The SDK logs every state change at INFO; keep warnings and errors only (once per process, before any worker). The
 * SDK's core writes its own log lines straight to the console unless they are forwarded: forward them, so they pass
 * the same redaction as the rest.
 */
function installQuietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const level = process.env.TRIBUTARY_LOG_LEVEL === 'debug' ? 'DEBUG' : 'WARN';
  // A page's steps are local activities that run inside one workflow task, by design (workflows/ingest.ts), and the
  // core keeps that task alive while they run. On a large source the task passes the core's 5-second notice
  // (TMPRL1104) page after page; warn only past the local activities' own 10-minute bound. An operator's value stands.
  process.env.TEMPORAL_WORKFLOW_TASK_DURATION_WARN_SECONDS ??= String(LOCAL_ACTIVITY_BOUND_SECONDS);
  try {
    Runtime.install({
      logger: new DefaultLogger(level, writeRedactedSdkLog),
      telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: level }), forward: {} } },
    });
  } catch {
    // a runtime already exists in this process (e.g. a test environment installed one): keep it
  }
}

const quietBundlerLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => log.warn('workflow bundler warning', { detail: message.slice(0, 200) }),
  error: (message: string) => log.error('workflow bundler error', { detail: message.slice(0, 200) }),
};

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('Run a Temporal worker for the ingestion workflows and activities (until Ctrl-C)')
    .option(
      '--queues <names>',
      `comma-separated task queues: ${Object.values(TASK_QUEUES).join(', ')}`,
      Object.values(TASK_QUEUES).join(','),
    )
    .option('--concurrency <n>', 'concurrent activities on the ingest queue', '8')
    .option(
      '--ingest-queue <name>',
      'poll this task queue name instead of "ingest" (separate deployments or tests on one server)',
    )
    .option('--imaging-queue <name>', 'poll this task queue name instead of "imaging"')
    .option(
      '--fhir-mode <mode>',
      'FHIR-API institutions: search (paging) or bulk ($export); default $TRIBUTARY_FHIR_MODE or search',
    )
    .option(
      '--imaging-mode <mode>',
      'imaging: files (file drops) or dicomweb (QIDO/WADO from each PACS); default $TRIBUTARY_IMAGING_MODE or files',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  npx tributary worker\n  npx tributary worker --queues imaging\n  npx tributary worker --imaging-mode dicomweb',
    )
    .action(
      async (opts: {
        queues: string;
        concurrency: string;
        ingestQueue?: string;
        imagingQueue?: string;
        fhirMode?: string;
        imagingMode?: string;
      }) => {
        const config = loadConfig();
        const fhirMode = opts.fhirMode
          ? parseAtEdge(fhirModeSchema, opts.fhirMode, '--fhir-mode')
          : config.env.TRIBUTARY_FHIR_MODE;
        const imagingMode = opts.imagingMode
          ? parseAtEdge(imagingModeSchema, opts.imagingMode, '--imaging-mode')
          : config.env.TRIBUTARY_IMAGING_MODE;
        const queues = opts.queues.split(',').map((q) => q.trim());
        const known = Object.values(TASK_QUEUES) as string[];
        const unknown = queues.filter((q) => !known.includes(q));
        if (unknown.length)
          throw new TributaryError(
            `--queues: unknown task queue(s) ${unknown.join(', ')}; known: ${known.join(', ')}`,
            { code: 'invalid' },
          );
        const running = await startIngestWorkers({
          config,
          queues: queues as TaskQueue[],
          queueNames: { ingest: opts.ingestQueue, imaging: opts.imagingQueue },
          ingestConcurrency: Number(opts.concurrency),
          fhirMode,
          imagingMode,
        });
        log.info('worker running', { queues: queues.join(','), address: config.temporal.address });
        process.stderr.write(
          `worker polling ${queues.join(', ')} on ${config.temporal.address} (Ctrl-C stops)\n`,
        );
        const stop = () => void running.shutdown();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        await running.done;
      },
    );
}
