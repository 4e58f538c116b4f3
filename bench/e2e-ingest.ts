/**
 * End-to-end ingestion throughput for the synthetic institutions, and Temporal's overhead.
 *
 *   npx tsx bench/e2e-ingest.ts [--patients 20] [--institutions 18] [--concurrency 16] [--repeat 1] [--same-data]
 *
 * Needs a Temporal server: the local stack (`npx tributary stack up`) or TEMPORAL_ADDRESS. Each repetition runs the
 * same activities twice: once in this process without Temporal (the baseline: the same step chain, the same bounded
 * concurrency), once as the real workflows on a worker. It prints records/s end to end and the overhead ratio
 * (in-process records/s / Temporal records/s - 1), medians over the repetitions. Each run gets its own generated
 * institutions (same sizes, another seed): on the same data a later run found the earlier one's per-patient work
 * done (V8 keeps compiled regular expressions by source, and the record identifiers' patterns are per patient),
 * which made whichever mode ran second look about 0.5 s of CPU cheaper per 8k records. `--same-data` serves one
 * data set to every run, as before. Per-process warm-up
 * (PGlite start, FHIR definitions, de-identification engines) happens once at worker start in both modes and is
 * printed apart, not timed as throughput. Each mode also prints the CPU time of this process (user + system, all of
 * its threads: the worker's workflow threads and Temporal core included, the Temporal server not): on a shared machine
 * wall time also measures the neighbours. And how busy the main thread was (its event-loop utilization): that one
 * thread runs the activities' JavaScript, the SDK's and every synchronous file call. Profile the baseline alone with
 *   node --cpu-prof --import tsx bench/e2e-ingest.ts --patients 3 --institutions 18 --mode inproc
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createIngestActivities, type IngestActivities } from '../activities/ingest';
import { createIngestDeps } from '../activities/runtime';
import { getRunProgress, startIngestRun } from '../cli/commands/ingest';
import { startIngestWorkers } from '../cli/commands/worker';
import { isAlive, readPid } from '../deploy/stack/process';
import { serviceDirs } from '../deploy/stack/service';
import { loadConfig } from '../platform/config';
import { createTemporalClient } from '../platform/temporal';
import { DEFAULT_CONCURRENT_SOURCES } from '../schemas/ingest';
import { sourceKinds, type SourceKind } from '../schemas/institution';
import { generateSynth } from '../synth/generate';
import { startSynthServer } from '../synth/serve';
import { addCounts, emptyCounts } from '../workflows/counts';
import { ingestRunWorkflowId } from '../workflows/definitions';
import { median } from './median';

const { values } = parseArgs({
  options: {
    patients: { type: 'string', default: '20' },
    institutions: { type: 'string', default: '18' },
    concurrency: { type: 'string', default: String(DEFAULT_CONCURRENT_SOURCES) },
    repeat: { type: 'string', default: '1' },
    /** `inproc` runs only the baseline without Temporal (profiling: `node --cpu-prof --import tsx ...`). */
    mode: { type: 'string', default: 'both' },
    /** File drops per page (default: the connectors' default); 1 reproduces one page per file. */
    'files-per-page': { type: 'string' },
    /** Serve one generated data set to every run instead of one per run (see above). */
    'same-data': { type: 'boolean', default: false },
  },
});
const patients = Number(values.patients);
const concurrency = Number(values.concurrency);
const repeat = Number(values.repeat);
const mode = values.mode;
const filesPerPage = values['files-per-page'] === undefined ? undefined : Number(values['files-per-page']);
if (mode !== 'both' && mode !== 'inproc' && mode !== 'temporal')
  throw new Error(`--mode must be both, inproc or temporal`);

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-ingest-'));
const env = {
  ...process.env,
  TRIBUTARY_STAGING_KEY: crypto.randomBytes(32).toString('base64'),
  TRIBUTARY_DEID_KEY: crypto.randomBytes(32).toString('base64'),
};
const configFor = (dir: string) => loadConfig({ env: { ...env, TRIBUTARY_DATA_DIR: path.join(root, dir) } });

/** Generated institutions, served over HTTP without throttling: this measures the pipeline, not their rate limits. */
interface DataSet {
  institutions: string[];
  records: number;
  url: string;
  close(): Promise<void>;
}

async function serveDataSet(seed: string): Promise<DataSet> {
  const dir = path.join(root, `synth-${seed}`);
  const { groundTruth, files, bytes } = generateSynth({
    out: dir,
    seed,
    patients,
    institutions: Number(values.institutions),
  });
  const records = groundTruth.expected.reduce((n, e) => n + e.records, 0);
  const server = await startSynthServer({ dir, port: 0, rateLimit: false });
  process.stdout.write(
    `data (seed ${seed}): ${groundTruth.institutions.length} institutions x ${patients} patients: ${records} records, ${files} files, ${(bytes / 1e6).toFixed(1)} MB\n`,
  );
  return { institutions: groundTruth.institutions, records, url: server.url, close: () => server.close() };
}

const shared = values['same-data'] ? await serveDataSet('bench') : undefined;
const dataFor = (run: string) => (shared ? Promise.resolve(shared) : serveDataSet(`bench-${run}`));

/**
 * Pulls retry a retryable failure (a reset keep-alive connection, a 5xx) as the workflow's retry policy does, so
 * one transient error does not end the baseline.
 */
async function retryPull<T>(pull: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await pull();
    } catch (e) {
      if (attempt >= 6 || (e as { nonRetryable?: boolean }).nonRetryable !== false) throw e;
      await new Promise((r) => setTimeout(r, 250 * 2 ** (attempt - 1)));
    }
  }
}

/** The workflow's step chain, called directly: the baseline without Temporal. */
async function runInProcess(acts: IngestActivities, runId: string, data: DataSet): Promise<number> {
  const jobs = [...sourceKinds]
    .sort((a, b) => (a === 'ehr' ? -1 : b === 'ehr' ? 1 : 0))
    .flatMap((source) => data.institutions.map((institution) => ({ institution, source })));
  const ehrDone = new Map<string, Promise<void>>();
  let total = emptyCounts();
  let next = 0;
  async function source(institution: string, src: SourceKind): Promise<void> {
    const ctx = { runId, institution, source: src };
    let cursor: string | undefined;
    do {
      const page = await retryPull(() =>
        acts.fetchPage({ ...ctx, endpoint: data.url, cursor, pageSize: 500 }),
      );
      total = addCounts(total, page.counts);
      if (page.rawKey && src === 'imaging') {
        const clean = await acts.cleanImages({ ...ctx, rawKey: page.rawKey });
        total = addCounts(total, clean.counts);
        const { batchKey } = await acts.standardizeImages({ ...ctx, imagesKey: clean.imagesKey });
        if (batchKey) {
          const verified = await acts.verifyBatch({ ...ctx, batchKey });
          total = addCounts(total, verified.counts);
          const published = await acts.publishBatch({ ...ctx, batchKey: verified.batchKey });
          total = addCounts(total, published.counts);
          const routed = await acts.routeBatch({ ...ctx, batchKey: verified.batchKey });
          total = addCounts(total, routed.counts);
        }
      } else if (page.rawKey) {
        // One call for the page's steps, as the workflow makes it (a local activity).
        const { steps } = await acts.processBatch({ ...ctx, rawKey: page.rawKey, route: true });
        for (const counts of steps) total = addCounts(total, counts);
      }
      cursor = page.nextCursor;
    } while (cursor);
    await acts.saveWatermark({ institution, source: src, since: new Date().toISOString() });
  }
  async function lane(): Promise<void> {
    while (next < jobs.length) {
      const job = jobs[next++];
      if (job.source === 'ehr') {
        const p = source(job.institution, 'ehr');
        ehrDone.set(
          job.institution,
          p.catch(() => undefined),
        );
        await p;
      } else {
        await ehrDone.get(job.institution);
        await source(job.institution, job.source);
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, () => lane()));
  await acts.writeRunManifest({ runId });
  return total.in;
}

/**
 * CPU seconds used so far by the local stack's Temporal server (user + system, from /proc), or undefined when the
 * server is not the stack's process on this machine (TEMPORAL_ADDRESS elsewhere, or no /proc).
 */
function serverCpuSeconds(): number | undefined {
  const config = loadConfig({ env });
  if (config.temporal.external) return undefined;
  const pid = readPid(serviceDirs(config, 'temporal').pid);
  if (pid === undefined || !isAlive(pid)) return undefined;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, utime 14 and stime 15, in clock ticks
    // (USER_HZ, 100 on Linux).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

async function runWithTemporal(
  dir: string,
  runId: string,
  data: DataSet,
): Promise<{
  seconds: number;
  cpu: number;
  busy: number;
  serverCpu?: number;
  records: number;
  state: string;
}> {
  const config = configFor(dir);
  const deps = createIngestDeps(config, { filesPerPage });
  const suffix = crypto.randomBytes(3).toString('hex');
  const queueNames = { ingest: `bench-ingest-${suffix}`, imaging: `bench-imaging-${suffix}` };
  // Imaging gets the baseline's concurrency too (the worker's default is 2 pixel activities at a time): the ratio
  // should measure Temporal, not a smaller imaging pool.
  const workers = await startIngestWorkers({
    config,
    deps,
    queueNames,
    ingestConcurrency: concurrency * 2,
    imagingConcurrency: concurrency,
  });
  const client = await createTemporalClient(config);
  try {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const e0 = performance.eventLoopUtilization();
    const s0 = serverCpuSeconds();
    await startIngestRun(client, {
      endpoint: data.url,
      runId,
      institutions: data.institutions,
      maxConcurrentSources: concurrency,
      taskQueue: queueNames.ingest,
      imagingQueue: queueNames.imaging,
    });
    // Wait on the result (a long poll), not on progress queries: each query of the run and of its running sources
    // is a task for the workflow worker, and polling them every 250 ms competed with the run it measured.
    await client.workflow
      .getHandle(ingestRunWorkflowId(runId))
      .result()
      .catch(() => undefined);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(process.cpuUsage(c0));
    const busy = performance.eventLoopUtilization(e0).utilization;
    const s1 = serverCpuSeconds();
    const serverCpu = s0 !== undefined && s1 !== undefined ? s1 - s0 : undefined;
    const result = await getRunProgress(client, runId);
    return { seconds, cpu, busy, serverCpu, records: result.progress?.totals.in ?? 0, state: result.state };
  } finally {
    await workers.shutdown();
    await deps.close();
    await client.connection.close();
  }
}

/**
 * The main thread's event-loop utilization over a run: near 100% means the run waits on this one thread (its
 * JavaScript and its synchronous file calls), whatever the other cores are doing.
 */
function percent(utilization: number): string {
  return `${(utilization * 100).toFixed(0)}%`;
}

function cpuSeconds(usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1e6;
}

/** records/s and CPU seconds per run, per mode. */
const inProcess: number[] = [];
const temporal: number[] = [];
const inProcessCpu: number[] = [];
const temporalCpu: number[] = [];
const serverCpu: number[] = [];
for (let i = 0; i < repeat; i++) {
  if (mode !== 'temporal') {
    const data = await dataFor(`${i}-inproc`);
    const deps = createIngestDeps(configFor(`inproc-${i}`), { filesPerPage });
    const w0 = performance.now();
    await deps.warmUp();
    process.stdout.write(`warm-up (once per process): ${((performance.now() - w0) / 1000).toFixed(1)} s\n`);
    const acts = createIngestActivities(deps);
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const e0 = performance.eventLoopUtilization();
    const n = await runInProcess(acts, `bench-inproc-${i}`, data);
    const s = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(process.cpuUsage(c0));
    const busy = performance.eventLoopUtilization(e0).utilization;
    await deps.close();
    if (data !== shared) await data.close();
    if (n !== data.records) throw new Error(`in-process run counted ${n} records of ${data.records}`);
    inProcess.push(n / s);
    inProcessCpu.push(cpu / (n / 1000));
    process.stdout.write(
      `in-process #${i + 1}: ${n} records in ${s.toFixed(1)} s = ${(n / s).toFixed(0)} records/s (CPU ${cpu.toFixed(1)} s, main thread busy ${percent(busy)})\n`,
    );
  }
  if (mode !== 'inproc') {
    const data = await dataFor(`${i}-temporal`);
    const t = await runWithTemporal(
      `temporal-${i}`,
      `bench-temporal-${crypto.randomBytes(3).toString('hex')}`,
      data,
    );
    if (data !== shared) await data.close();
    if (t.records !== data.records)
      throw new Error(`the Temporal run counted ${t.records} records of ${data.records} (${t.state})`);
    temporal.push(t.records / t.seconds);
    temporalCpu.push(t.cpu / (t.records / 1000));
    if (t.serverCpu !== undefined) serverCpu.push(t.serverCpu / (t.records / 1000));
    const server = t.serverCpu === undefined ? '' : `, Temporal server ${t.serverCpu.toFixed(1)} s`;
    process.stdout.write(
      `temporal   #${i + 1}: ${t.records} records in ${t.seconds.toFixed(1)} s = ${(t.records / t.seconds).toFixed(0)} records/s (CPU ${t.cpu.toFixed(1)} s, main thread busy ${percent(t.busy)}${server}) (${t.state})\n`,
    );
  }
}
const a = inProcess.length ? median(inProcess) : NaN;
const b = temporal.length ? median(temporal) : NaN;
process.stdout.write(
  `\nmedian end to end with Temporal: ${b.toFixed(0)} records/s; in one process without Temporal: ${a.toFixed(0)} records/s\n` +
    `Temporal overhead: ${((a / b - 1) * 100).toFixed(1)}% (ratio ${(a / b).toFixed(2)}), ${repeat} repetition(s), concurrency ${concurrency}, ${os.cpus().length} cores\n`,
);
const ca = inProcessCpu.length ? median(inProcessCpu) : NaN;
const cb = temporalCpu.length ? median(temporalCpu) : NaN;
process.stdout.write(
  `median CPU of this process per 1,000 records: with Temporal ${cb.toFixed(2)} s, without ${ca.toFixed(2)} s; ` +
    `CPU overhead ${((cb / ca - 1) * 100).toFixed(1)}% (Temporal server not counted)\n` +
    (serverCpu.length
      ? `median CPU of the local Temporal server per 1,000 records: ${median(serverCpu).toFixed(2)} s\n`
      : 'Temporal server CPU: not measured (not the local stack process)\n'),
);
await shared?.close();
fs.rmSync(root, { recursive: true, force: true });
