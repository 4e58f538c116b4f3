import fs from 'node:fs';
import type { Command } from 'commander';
import { ApplicationFailure } from '@temporalio/common';
import { ScheduleOverlapPolicy, ServiceError, WorkflowFailedError, type Client } from '@temporalio/client';
import { PSEUDONYM_SYSTEM } from '../../deid/key-service';
import { ingestPaths, openStagingStore } from '../../activities/runtime';
import { formatRunProblems, readRunProblems } from '../../activities/run-problems';
import { loadConfig, parseAtEdge, type Config } from '../../platform/config';
import { TributaryError } from '../../platform/errors';
import { loadInstitutionRegistry } from '../../platform/institutions';
import { TASK_QUEUES, createTemporalClient } from '../../platform/temporal';
import { groundTruthSchema, type GroundTruth } from '../../schemas/ground-truth';
import {
  DEFAULT_CONCURRENT_SOURCES,
  ingestRunInputSchema,
  type IngestRunInput,
  type IngestRunProgress,
  type SourceCounts,
} from '../../schemas/ingest';
import { sourceKinds, sourcesOf, type InstitutionRegistry, type SourceKind } from '../../schemas/institution';
import { ingestRunWorkflowId, runProgressQuery, sourceProgressQuery } from '../../workflows/definitions';
import type { ingestAllWorkflow } from '../../workflows/ingest';

/** A run id from the clock: `r20261125t093000z`. Names workflow ids and the output folder; carries no data. */
export function newRunId(now = new Date()): string {
  return (
    'r' +
    now
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d+Z$/, 'z')
      .toLowerCase()
  );
}

export interface StartRunOptions {
  endpoint: string;
  /** Default: the registry the workers read (TRIBUTARY_INSTITUTIONS, else config/institutions.json). */
  registry?: InstitutionRegistry;
  institutions?: string[];
  sources?: SourceKind[];
  since?: string;
  runId?: string;
  maxConcurrentSources?: number;
  pageSize?: number;
  route?: boolean;
  fhirServerUrl?: string;
  stowUrl?: string;
  /** Task queues (default ingest/imaging); tests on a shared server use their own. */
  taskQueue?: string;
  imagingQueue?: string;
}

/**
 * Which institutions and source kinds a run (or each firing of a schedule) takes: of the kinds asked for (default:
 * all), those each institution sends by the registry. An institution named with --institution that sends none of them
 * is an error; one taken by default is left out. `institutionSources` is given only when some institution leaves out a
 * kind asked for, so a registry whose institutions send everything starts the same input as before.
 */
export function planSources(
  registry: InstitutionRegistry,
  institutions: string[] | undefined,
  sources: SourceKind[] | undefined,
): Pick<IngestRunInput, 'institutions' | 'sources' | 'institutionSources'> {
  const byId = new Map(registry.institutions.map((i) => [i.id, i]));
  const unknown = (institutions ?? []).filter((i) => !byId.has(i));
  if (unknown.length)
    throw new TributaryError(`--institution: not in the registry: ${unknown.join(', ')}`, {
      code: 'invalid',
      nonRetryable: true,
    });
  const asked: SourceKind[] = sources?.length ? sources : [...sourceKinds];
  const named = Boolean(institutions?.length);
  const sent = new Map<string, SourceKind[]>();
  for (const id of named ? institutions! : [...byId.keys()]) {
    const kinds = sourcesOf(byId.get(id)!).filter((k) => asked.includes(k));
    if (kinds.length) sent.set(id, kinds);
    else if (named)
      throw new TributaryError(
        `--institution ${id} sends ${sourcesOf(byId.get(id)!).join(', ')} only, none of --source ${asked.join(', ')} (registry)`,
        { code: 'invalid', nonRetryable: true },
      );
  }
  if (sent.size === 0)
    throw new TributaryError(`--source ${asked.join(', ')}: no institution in the registry sends it`, {
      code: 'invalid',
      nonRetryable: true,
    });
  const partial = [...sent.values()].some((kinds) => kinds.length < asked.length);
  return {
    institutions: [...sent.keys()],
    sources: asked,
    ...(partial ? { institutionSources: Object.fromEntries(sent) } : {}),
  };
}

/** Start `ingestAllWorkflow` for a run; the workflow id derives from the run id, so starting twice is refused. */
export async function startIngestRun(
  client: Client,
  options: StartRunOptions,
): Promise<{ runId: string; workflowId: string }> {
  const input: IngestRunInput = parseAtEdge(
    ingestRunInputSchema,
    {
      runId: options.runId ?? newRunId(),
      endpoint: options.endpoint,
      ...planSources(options.registry ?? loadInstitutionRegistry(), options.institutions, options.sources),
      since: options.since,
      maxConcurrentSources: options.maxConcurrentSources,
      pageSize: options.pageSize,
      route: options.route,
      fhirServerUrl: options.fhirServerUrl,
      stowUrl: options.stowUrl,
      imagingQueue: options.imagingQueue,
    },
    'ingest run options',
  );
  const workflowId = ingestRunWorkflowId(input.runId);
  await client.workflow.start<typeof ingestAllWorkflow>('ingestAllWorkflow', {
    taskQueue: options.taskQueue ?? TASK_QUEUES.ingest,
    workflowId,
    args: [input],
  });
  return { runId: input.runId, workflowId };
}

export type RunState = 'running' | 'completed' | 'failed' | 'other';

/** The run's progress: from its result once closed, from queries (its own and each running source's) while open. */
export async function getRunProgress(
  client: Client,
  runId: string,
): Promise<{ state: RunState; progress?: IngestRunProgress }> {
  const handle = client.workflow.getHandle(ingestRunWorkflowId(runId));
  const description = await handle.describe();
  const status = description.status.name;
  if (status === 'COMPLETED')
    return { state: 'completed', progress: (await handle.result()) as IngestRunProgress };
  if (status === 'FAILED') {
    try {
      await handle.result();
    } catch (e) {
      const cause = e instanceof WorkflowFailedError ? e.cause : undefined;
      const details =
        cause instanceof ApplicationFailure
          ? (cause.details?.[0] as IngestRunProgress | undefined)
          : undefined;
      return { state: 'failed', progress: details };
    }
  }
  if (status !== 'RUNNING') return { state: 'other' };
  let progress: IngestRunProgress;
  try {
    progress = await handle.query(runProgressQuery);
  } catch (e) {
    // No worker answered in time (none running yet, or one restarting after a crash): running, progress unknown.
    if (
      e instanceof ServiceError &&
      /DEADLINE_EXCEEDED|timed out/i.test(`${e.message} ${(e.cause as Error | undefined)?.message ?? ''}`)
    )
      return { state: 'running' };
    throw e;
  }
  await Promise.all(
    progress.sources
      .filter((s) => s.status === 'running')
      .map(async (s) => {
        try {
          s.counts = (await client.workflow.getHandle(s.workflowId).query(sourceProgressQuery)).counts;
        } catch {
          // not started yet or between runs (continue-as-new): the next poll shows it
        }
      }),
  );
  return { state: 'running', progress };
}

/** The reconciliation table: in = published + quarantined + rejected per institution and source (and ground truth). */
export function formatReconciliation(
  progress: IngestRunProgress,
  truth?: GroundTruth,
  /** To tell an institution that sends no EHR (its images can only be linked by Patient ID) from one whose EHR is late. */
  registry?: InstitutionRegistry,
): { text: string; balanced: boolean; matchesTruth: boolean } {
  const header = [
    'institution',
    'source',
    'status',
    'in',
    'published',
    'quarantined',
    'rejected',
    'resources',
    'dicom',
    'items',
    'check',
  ];
  if (truth) header.push('expected', 'malformed', 'truth');
  const rows: string[][] = [header];
  let balanced = true;
  let matchesTruth = true;
  const total: SourceCounts | undefined = progress.totals;
  for (const s of progress.sources) {
    const c = s.counts;
    const ok = c ? c.in === c.published + c.quarantined + c.rejected : false;
    if (s.status === 'completed' && !ok) balanced = false;
    const row = [
      s.institution,
      s.source,
      s.status,
      ...(c
        ? [
            c.in,
            c.published,
            c.quarantined,
            c.rejected,
            c.resourcesPublished,
            c.dicomPublished,
            c.workItems,
          ].map(String)
        : ['-', '-', '-', '-', '-', '-', '-']),
      c ? (ok ? 'ok' : 'MISMATCH') : '-',
    ];
    if (truth) {
      const e = truth.expected.find((x) => x.institution === s.institution && x.source === s.source);
      const match = !!e && !!c && s.status === 'completed' && c.in === e.records && c.pagesQuarantined === 0;
      if (!match) matchesTruth = false;
      row.push(e ? String(e.records) : '-', e ? String(e.malformed) : '-', match ? 'ok' : 'MISMATCH');
    }
    rows.push(row);
  }
  rows.push([
    'total',
    '',
    '',
    String(total.in),
    String(total.published),
    String(total.quarantined),
    String(total.rejected),
    String(total.resourcesPublished),
    String(total.dicomPublished),
    String(total.workItems),
    total.in === total.published + total.quarantined + total.rejected ? 'ok' : 'MISMATCH',
  ]);
  const widths = header.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const table = rows
    .map((r) => r.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  '))
    .join('\n');
  // What the table's balance cannot show: files read as nothing, and records lost before they reached us.
  const notes: string[] = [];
  for (const s of progress.sources) {
    const c = s.counts;
    if (c?.pagesQuarantined)
      notes.push(
        `${s.institution}/${s.source}: ${c.pagesQuarantined} file(s) could not be read at all (quarantined whole, records unknown)`,
      );
    if (c?.sourceGaps)
      notes.push(
        `${s.institution}/${s.source}: ${c.sourceGaps} file(s) or batch(es) whose own count (HL7 BTS/FTS trailer, Bulk manifest count) differs from the records that arrived: records may be missing upstream; ask the sender to resend`,
      );
    if (c?.itemsUpdated)
      notes.push(
        `${s.institution}/${s.source}: ${c.itemsUpdated} work item(s) replaced by a newer version of the same record (a corrected result, a record sent again changed) before any annotator began them`,
      );
    if (c?.itemConflicts)
      notes.push(
        `${s.institution}/${s.source}: ${c.itemConflicts} work item(s) arrived with the id of a queued item and other content but did not replace it (annotation had begun on the queued version, or it was received no later): annotators keep the queued version; the other one is in this run's FHIR output, and a later one is kept beside a begun item, whose label exports then say its source was corrected`,
      );
    const registered = registry?.institutions.find((i) => i.id === s.institution);
    if (c?.imagesWithoutPatient && registered && !registered.ehr)
      notes.push(
        `${s.institution}/${s.source}: ${c.imagesWithoutPatient} DICOM instance(s) linked by their DICOM Patient ID (or Study UID): ${s.institution} sends no EHR, so a person's studies are linked to each other, not to a Patient`,
      );
    else if (c?.imagesWithoutPatient)
      notes.push(
        `${s.institution}/${s.source}: ${c.imagesWithoutPatient} DICOM instance(s) arrived before any EHR record of their patient and were linked by their DICOM Patient ID (or Study UID): there the person has a pseudonym and date offset of their own; once the EHR is in, ingest this imaging again: tributary ingest run --institution ${s.institution} --source imaging (deid/README.md, Linkage)`,
      );
  }
  const text = notes.length ? `${table}\n\n${notes.join('\n')}` : table;
  return { text, balanced, matchesTruth };
}

export function loadGroundTruth(file: string): GroundTruth {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new TributaryError(`ground truth ${file}: ${(e as NodeJS.ErrnoException).code ?? 'not JSON'}`, {
      code: 'invalid',
      nonRetryable: true,
    });
  }
  return parseAtEdge(groundTruthSchema, raw, `ground truth ${file}`);
}

/** Poll until the run closes, calling onProgress with each snapshot. */
export async function waitForRun(
  client: Client,
  runId: string,
  onProgress?: (p: IngestRunProgress) => void,
  intervalMs = 2000,
): Promise<{ state: RunState; progress?: IngestRunProgress }> {
  for (;;) {
    const snapshot = await getRunProgress(client, runId);
    if (snapshot.progress) onProgress?.(snapshot.progress);
    if (snapshot.state !== 'running') return snapshot;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * The release's k-anonymity in one line (per institution in risk.json): the smallest class and how many Patients sit
 * in classes below the policy's k. Undefined before the release is written.
 */
export function formatReleaseRisk(p: IngestRunProgress): string | undefined {
  if (!p.risk) return undefined;
  const entries = Object.entries(p.risk);
  if (!entries.length) return 'k-anonymity: no Patients published';
  const [worstId, worst] = entries.reduce((a, b) => (b[1].k < a[1].k ? b : a));
  const records = entries.reduce((n, [, r]) => n + r.records, 0);
  const below = entries.reduce((n, [, r]) => n + r.recordsBelowThreshold, 0);
  const atRisk = entries.filter(([, r]) => r.recordsBelowThreshold > 0).length;
  const thresholds = [...new Set(entries.map(([, r]) => r.threshold))].join('/');
  const line =
    `k-anonymity (age band, sex, region; k=${thresholds} wanted): smallest class ${worst.k} (${worstId}); ` +
    `${below} of ${records} patients in classes below k, at ${atRisk} of ${entries.length} institutions (risk.json)`;
  return p.linkedPersons
    ? `${line}\n${p.linkedPersons} person(s) published by more than one institution, each institution's Patient ` +
        `under its own id, linked by the pseudonym identifier ${PSEUDONYM_SYSTEM}`
    : line;
}

export function progressLine(p: IngestRunProgress): string {
  const by = (st: string) => p.sources.filter((s) => s.status === st).length;
  const counts = p.sources.reduce((n, s) => n + (s.counts?.in ?? 0), 0);
  return `sources: ${by('completed')} done, ${by('running')} running, ${by('pending')} pending, ${by('failed')} failed; records in: ${counts}`;
}

function collect(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean),
  ];
}

function parseSources(values: string[] | undefined): SourceKind[] | undefined {
  if (!values) return undefined;
  const bad = values.filter((v) => !(sourceKinds as readonly string[]).includes(v));
  if (bad.length)
    throw new TributaryError(
      `--source: unknown kind(s) ${bad.join(', ')}; known: ${sourceKinds.join(', ')}`,
      { code: 'invalid' },
    );
  return values as SourceKind[];
}

async function withClient<T>(fn: (client: Client, config: Config) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const client = await createTemporalClient(config);
  try {
    return await fn(client, config);
  } finally {
    await client.connection.close();
  }
}

export function registerIngest(program: Command): void {
  const ingest = program
    .command('ingest')
    .description('Run, watch and schedule ingestion (Temporal workflows; needs `tributary worker` running)');

  ingest
    .command('run')
    .description('Ingest every institution and source (or the ones named) from an endpoint')
    .requiredOption(
      '--endpoint <url>',
      'base URL serving <url>/<institution>/fhir and /<institution>/files/ (e.g. `tributary synth serve`)',
    )
    .option('--institution <id>', 'only this institution (repeat or comma-separate)', collect)
    .option(
      '--source <kind>',
      `only this source kind: ${sourceKinds.join(', ')} (repeat or comma-separate)`,
      collect,
    )
    .option('--since <instant>', 'only what changed since this ISO 8601 instant (FHIR _lastUpdated)')
    .option('--run-id <id>', 'name the run (default: from the clock)')
    .option('--concurrency <n>', 'sources ingested at the same time', String(DEFAULT_CONCURRENT_SOURCES))
    .option('--page-size <n>', 'records per FHIR page', '500')
    .option('--no-route', 'do not route work items to the annotation queues')
    .option(
      '--fhir-server <url>',
      'also send de-identified resources to this FHIR server (bundles of PUTs: TRIBUTARY_FHIR_BUNDLE_MAX, _TYPE)',
    )
    .option('--stow <url>', 'also send de-identified DICOM to this research PACS (DICOMweb STOW-RS base URL)')
    .option(
      '--ground-truth <file>',
      'with --wait: compare the reconciliation with a generator ground-truth.json',
    )
    .option('--wait', 'wait for the run to finish and print the reconciliation')
    .addHelpText(
      'after',
      '\nExamples:\n  npx tributary ingest run --endpoint http://127.0.0.1:8090 --wait\n  npx tributary ingest run --endpoint http://127.0.0.1:8090 --institution riverside-general --source ehr' +
        '\n  npx tributary ingest run --endpoint http://127.0.0.1:8090 --wait --fhir-server http://127.0.0.1:18090/fhir' +
        "\n      (the local stack's HAPI FHIR server: npx tributary stack up --only fhir)",
    )
    .action(async (opts) => {
      await withClient(async (client, config) => {
        const { runId, workflowId } = await startIngestRun(client, {
          endpoint: opts.endpoint,
          institutions: opts.institution,
          sources: parseSources(opts.source),
          since: opts.since,
          runId: opts.runId,
          maxConcurrentSources: Number(opts.concurrency),
          pageSize: Number(opts.pageSize),
          route: opts.route,
          fhirServerUrl: opts.fhirServer,
          stowUrl: opts.stow,
        });
        process.stdout.write(`started run ${runId} (workflow ${workflowId})\n`);
        if (!opts.wait) return;
        const result = await waitForRun(client, runId, (p) => process.stderr.write(progressLine(p) + '\n'));
        printOutcome(runId, result, opts.groundTruth ? loadGroundTruth(opts.groundTruth) : undefined, config);
      });
    });

  ingest
    .command('status')
    .description(
      'Per-institution/source progress of a run and its reconciliation (in = published + quarantined + rejected)',
    )
    .argument('<run>', 'the run id printed by `ingest run`')
    .option('--ground-truth <file>', 'compare with a generator ground-truth.json')
    .action(async (run: string, opts: { groundTruth?: string }) => {
      await withClient(async (client, config) => {
        printOutcome(
          run,
          await getRunProgress(client, run),
          opts.groundTruth ? loadGroundTruth(opts.groundTruth) : undefined,
          config,
        );
      });
    });

  ingest
    .command('quarantine')
    .description(
      'What a run quarantined and rejected, and why: rules, reasons and places per institution and source (never values)',
    )
    .argument('<run>', 'the run id printed by `ingest run`')
    .option('--json', 'every entry, as JSON')
    .addHelpText(
      'after',
      "\nReads the run's logs in staging (TRIBUTARY_DATA_DIR, TRIBUTARY_STAGING_KEY), where the original bytes of what was\n" +
        'quarantined stay too. Example:\n  npx tributary ingest quarantine r20261205t1930z',
    )
    .action(async (run: string, opts: { json?: boolean }) => {
      const config = loadConfig();
      const problems = await readRunProblems(openStagingStore(config), run);
      if (opts.json) process.stdout.write(JSON.stringify(problems, null, 2) + '\n');
      else if (!problems.quarantined.length && !problems.rejected.length)
        process.stdout.write(
          `run ${run}: nothing quarantined or rejected logged in ${ingestPaths(config).staging}\n`,
        );
      else process.stdout.write(`run ${run}\n${formatRunProblems(problems)}`);
    });

  ingest
    .command('schedule')
    .description(
      'Create (or replace) a Temporal Schedule for incremental pulls (`_since` watermarks per institution and source)',
    )
    .requiredOption('--endpoint <url>', 'base URL of the institutions')
    .option('--every <interval>', 'how often, e.g. 15m, 1h, 1d', '1h')
    .option('--id <name>', 'schedule id', 'ingest-incremental')
    .option('--institution <id>', 'only this institution (repeat or comma-separate)', collect)
    .option('--source <kind>', 'only this source kind (repeat or comma-separate)', collect)
    .option('--delete', 'delete the schedule instead')
    .action(async (opts) => {
      await withClient(async (client) => {
        if (opts.delete) {
          await client.schedule.getHandle(scheduleIdOf(opts.id)).delete();
          process.stdout.write(`deleted schedule ${opts.id}\n`);
          return;
        }
        await createIngestSchedule(client, {
          id: opts.id,
          endpoint: opts.endpoint,
          every: opts.every,
          institutions: opts.institution,
          sources: parseSources(opts.source),
        });
        process.stdout.write(
          `schedule ${opts.id}: incremental ingest every ${opts.every} (runs are named ${opts.id}-<start time>)\n`,
        );
      });
    });
}

export interface ScheduleOptions {
  /** Schedule id; also the run id prefix of each firing (`<id>-<start time>`). */
  id: string;
  endpoint: string;
  /** Interval, e.g. `15m`, `1h`, `1d`. */
  every: string;
  institutions?: string[];
  sources?: SourceKind[];
  /** Task queues (default ingest/imaging); tests on a shared server use their own. */
  taskQueue?: string;
  imagingQueue?: string;
  /** Route verified work items to the annotation queues (default true). */
  route?: boolean;
}

function scheduleIdOf(id: string): string {
  if (!/^[a-z0-9][a-z0-9-]{0,40}$/.test(id))
    throw new TributaryError('--id: lower-case letters, digits and dashes', {
      code: 'invalid',
      nonRetryable: true,
    });
  return id;
}

/**
 * Create (or replace) a Temporal Schedule of incremental runs: each firing is `ingestAllWorkflow` with
 * `incremental`, so every source starts from its `_since` watermark (the start of its last completed run) and
 * saves a new one when it completes. Overlapping firings are skipped.
 */
export async function createIngestSchedule(
  client: Client,
  options: ScheduleOptions,
): Promise<{ scheduleId: string }> {
  const scheduleId = scheduleIdOf(options.id);
  const input = parseAtEdge(
    ingestRunInputSchema,
    {
      runId: scheduleId,
      endpoint: options.endpoint,
      ...planSources(loadInstitutionRegistry(), options.institutions, options.sources),
      incremental: true,
      scheduled: true,
      route: options.route,
      imagingQueue: options.imagingQueue,
    },
    'ingest schedule options',
  );
  const handle = client.schedule.getHandle(scheduleId);
  try {
    await handle.delete();
  } catch {
    // no previous schedule of that id
  }
  await client.schedule.create({
    scheduleId,
    spec: { intervals: [{ every: options.every }] },
    action: {
      type: 'startWorkflow',
      workflowType: 'ingestAllWorkflow',
      taskQueue: options.taskQueue ?? TASK_QUEUES.ingest,
      workflowId: `ingest:sched:${scheduleId}`,
      args: [input],
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP },
  });
  return { scheduleId };
}

function printOutcome(
  runId: string,
  result: { state: RunState; progress?: IngestRunProgress },
  truth: GroundTruth | undefined,
  config: Config,
): void {
  if (!result.progress) {
    const why =
      result.state === 'running'
        ? 'no worker answered the progress query (is `tributary worker` running?)'
        : 'no progress recorded';
    process.stdout.write(`run ${runId}: ${result.state}, ${why}\n`);
    process.exitCode = 1;
    return;
  }
  const table = formatReconciliation(result.progress, truth, loadInstitutionRegistry());
  process.stdout.write(`run ${runId}: ${result.state}\n${table.text}\n`);
  process.stdout.write(
    `reconciliation: ${table.balanced ? 'balanced' : 'NOT balanced'}${truth ? `; ground truth: ${table.matchesTruth ? 'matches' : 'DOES NOT match'}` : ''}\n`,
  );
  const risk = formatReleaseRisk(result.progress);
  if (risk) process.stdout.write(`${risk}\n`);
  process.stdout.write(`outputs: ${result.progress.outputDir ?? `${ingestPaths(config).output}/${runId}`}\n`);
  const previews = result.progress.previews;
  if (previews && 'error' in previews)
    process.stdout.write(
      `previews: not pruned (${previews.error}); tributary queues prune-previews does it\n`,
    );
  else if (previews?.removed)
    process.stdout.write(
      `previews: ${previews.removed} old version(s) no work item refers to removed (${(previews.bytesRemoved / 1e6).toFixed(1)} MB)\n`,
    );
  for (const s of result.progress.sources.filter((x) => x.status === 'failed'))
    process.stdout.write(`failed: ${s.institution}/${s.source}: ${s.error}\n`);
  const total = result.progress.totals;
  if (total.quarantined || total.rejected || total.pagesQuarantined)
    process.stdout.write(`why records were quarantined or rejected: tributary ingest quarantine ${runId}\n`);
  if (result.state !== 'completed' || !table.balanced || (truth && !table.matchesTruth)) process.exitCode = 1;
}
