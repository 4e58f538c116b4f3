import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../../platform/config';
import { TributaryError, toError } from '../../platform/errors';
import { fhirService } from './fhir';
import { kafkaService } from './kafka';
import { orthancService } from './orthanc';
import { postgresService } from './postgres';
import { isAlive, isPortOpen, livePid, stopProcess, tailFile, waitFor, withFileLock } from './process';
import {
  ensureDir,
  SERVICE_NAMES,
  serviceDirs,
  type ServiceDriver,
  type ServiceName,
  type StackContext,
} from './service';
import { findTemporalBin, temporalService } from './temporal';

export { SERVICE_NAMES, type ServiceName } from './service';

/** Start order: Orthanc keeps its index in PostgreSQL, so PostgreSQL comes first. */
const DRIVERS: Record<ServiceName, ServiceDriver> = {
  postgres: postgresService,
  temporal: temporalService,
  kafka: kafkaService,
  orthanc: orthancService,
  fhir: fhirService,
};

/** The FHIR server's JVM starts after the first wave: on two cores it would only slow the others' start. */
const START_WAVES: ServiceName[][] = [
  ['postgres', 'temporal', 'kafka'],
  ['orthanc', 'fhir'],
];

const LOCK_TIMEOUT_MS = 45 * 60_000; // a cold start builds temporal and fetches Kafka while holding the lock

export interface ServiceState {
  name: ServiceName;
  address: string;
  external: boolean;
  pid?: number;
  healthy: boolean;
  detail?: string;
  log?: string;
}

export interface StackHandle {
  /** Services this call started (a caller that owns them may stop exactly these). */
  started: ServiceName[];
  services: Record<ServiceName, ServiceState>;
  /**
   * Environment for clients: TEMPORAL_ADDRESS, KAFKA_BROKERS, DATABASE_URL, ORTHANC_URL, FHIR_SERVER_URL,
   * TEMPORAL_BIN (when known).
   */
  env: Record<string, string>;
}

export interface EnsureOptions {
  services?: ServiceName[];
  /**
   * A person asked for the stack (`stack up`): it stays up after test runs end, even if a test run started it and
   * handed it over to be stopped by the last run out.
   */
  claim?: boolean;
  progress?: (message: string) => void;
}

/** Parse `--only temporal,kafka` style lists, naming the bad entry. */
export function parseServiceList(text: string): ServiceName[] {
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of names) {
    if (!(SERVICE_NAMES as readonly string[]).includes(n)) {
      throw new TributaryError(`unknown service "${n}"; expected some of ${SERVICE_NAMES.join(', ')}`, {
        code: 'invalid',
        location: '--only',
        nonRetryable: true,
      });
    }
  }
  return withDependencies(names as ServiceName[]);
}

/** Orthanc needs PostgreSQL for its index. */
function withDependencies(names: ServiceName[]): ServiceName[] {
  const set = new Set(names);
  if (set.has('orthanc')) set.add('postgres');
  return SERVICE_NAMES.filter((n) => set.has(n));
}

function lockFile(config: Config): string {
  return path.join(config.paths.stack, 'stack.lock');
}

function handOverFile(config: Config): string {
  return path.join(config.paths.stack, 'leases', 'to-stop');
}

async function checkHealthy(
  driver: ServiceDriver,
  config: Config,
): Promise<{ healthy: boolean; detail?: string }> {
  try {
    return { healthy: await driver.healthy(config) };
  } catch (e) {
    return { healthy: false, detail: toError(e).message };
  }
}

/** Environment variables that point clients at the stack. */
export function stackEnv(config: Config): Record<string, string> {
  const env: Record<string, string> = {
    TEMPORAL_ADDRESS: config.temporal.address,
    TEMPORAL_NAMESPACE: config.temporal.namespace,
    KAFKA_BROKERS: config.kafka.brokers.join(','),
    DATABASE_URL: config.database.url,
    ORTHANC_URL: config.orthanc.url,
    FHIR_SERVER_URL: config.fhir.url,
  };
  const bin = findTemporalBin(config);
  if (bin) env.TEMPORAL_BIN = bin;
  return env;
}

async function ensureService(
  driver: ServiceDriver,
  ctx: StackContext,
): Promise<{ started: boolean; pid?: number }> {
  const { config } = ctx;
  const dirs = serviceDirs(config, driver.name);
  const running = livePid(dirs.pid, driver.command);
  if (running !== undefined) {
    // Ours and alive: wait until it serves (it may have been started a moment ago by another process).
    await waitFor(`${driver.name} (pid ${running}) to become healthy`, () => driver.healthy(config), {
      timeoutMs: driver.startTimeoutMs,
      abort: () =>
        isAlive(running)
          ? undefined
          : `the process exited; last log lines from ${dirs.log}:\n${tailFile(dirs.log)}`,
    });
    await driver.afterStart?.(ctx);
    return { started: false, pid: running };
  }
  for (const { port, variable } of driver.ports(config)) {
    if (await isPortOpen('127.0.0.1', port)) {
      throw new TributaryError(
        `${driver.name}: port ${port} on 127.0.0.1 is already in use by a process this stack (${config.paths.stack}) did not start. ` +
          `Stop it, or set ${variable} to a free port.`,
        { code: 'invalid', location: variable, nonRetryable: true },
      );
    }
  }
  await driver.prepare(ctx);
  ensureDir(config.paths.logs);
  ctx.progress(`starting ${driver.name}`);
  const pid = await driver.start(ctx);
  try {
    await waitFor(`${driver.name} to become healthy`, () => driver.healthy(config), {
      timeoutMs: driver.startTimeoutMs,
      abort: () =>
        isAlive(pid)
          ? undefined
          : `it exited during start-up; last log lines from ${dirs.log}:\n${tailFile(dirs.log)}`,
    });
    await driver.afterStart?.(ctx);
  } catch (e) {
    await stopProcess(pid, 10_000, driver.stopSignal);
    fs.rmSync(dirs.pid, { force: true });
    const err = toError(e);
    throw new TributaryError(`${err.message}\n(log: ${dirs.log})`, { code: 'exception', cause: e });
  }
  return { started: true, pid };
}

/**
 * Make sure the stack serves: services the user points elsewhere (TEMPORAL_ADDRESS, KAFKA_BROKERS, DATABASE_URL,
 * ORTHANC_URL, FHIR_SERVER_URL) are only checked; ours are started if they are not running. Safe to call from several
 * processes at once: a lock file in `.stack/` serializes starts, and a running service is never started twice.
 */
export async function ensureStack(config: Config, options: EnsureOptions = {}): Promise<StackHandle> {
  const names = withDependencies(options.services ?? [...SERVICE_NAMES]);
  const ctx: StackContext = { config, progress: options.progress ?? (() => undefined) };
  ensureDir(config.paths.stack);
  ensureDir(config.paths.logs);
  return withFileLock(lockFile(config), LOCK_TIMEOUT_MS, async () => {
    if (options.claim) fs.rmSync(handOverFile(config), { force: true });
    const started: ServiceName[] = [];
    const services = {} as Record<ServiceName, ServiceState>;
    const ensureOne = async (name: ServiceName) => {
      const driver = DRIVERS[name];
      const address = driver.address(config);
      if (driver.external(config)) {
        await waitFor(`${name} at ${address} (set by you) to answer`, () => driver.healthy(config), {
          timeoutMs: 20_000,
          intervalMs: 1000,
        });
        services[name] = { name, address, external: true, healthy: true };
        return;
      }
      const result = await ensureService(driver, ctx);
      if (result.started) started.push(name);
      services[name] = {
        name,
        address,
        external: false,
        pid: result.pid,
        healthy: true,
        log: serviceDirs(config, name).log,
        detail: driver.describe?.(config),
      };
    };
    try {
      // Independent services start side by side (the JVM and the Temporal server each take seconds); Orthanc waits
      // for PostgreSQL, which holds its index.
      for (const wave of START_WAVES) {
        const results = await Promise.allSettled(wave.filter((n) => names.includes(n)).map(ensureOne));
        const failures = results
          .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
          .map((r) => toError(r.reason));
        if (failures.length === 1) throw failures[0];
        if (failures.length > 1)
          throw new TributaryError(failures.map((f) => f.message).join('\n'), {
            code: 'exception',
            cause: failures[0],
          });
      }
    } catch (e) {
      // Leave nothing half-started behind: what this call started, it stops.
      for (const name of [...started].reverse()) await stopService(config, name);
      throw e;
    }
    const ordered = {} as Record<ServiceName, ServiceState>;
    for (const name of SERVICE_NAMES) if (services[name]) ordered[name] = services[name];
    return {
      started: SERVICE_NAMES.filter((n) => started.includes(n)),
      services: ordered,
      env: stackEnv(config),
    };
  });
}

async function stopService(config: Config, name: ServiceName): Promise<boolean> {
  const dirs = serviceDirs(config, name);
  const pid = livePid(dirs.pid, DRIVERS[name].command);
  if (pid === undefined) return false;
  await stopProcess(pid, 30_000, DRIVERS[name].stopSignal);
  fs.rmSync(dirs.pid, { force: true });
  return true;
}

/** Stop the local services (all, or the named ones), in reverse start order. Returns what was stopped. */
export async function stopStack(
  config: Config,
  options: { services?: ServiceName[] } = {},
): Promise<ServiceName[]> {
  const names = (options.services ?? [...SERVICE_NAMES]).filter((n) =>
    (SERVICE_NAMES as readonly string[]).includes(n),
  );
  ensureDir(config.paths.stack);
  return withFileLock(lockFile(config), LOCK_TIMEOUT_MS, async () => {
    if (!options.services) fs.rmSync(handOverFile(config), { force: true });
    const stopped: ServiceName[] = [];
    for (const name of [...SERVICE_NAMES].reverse()) {
      if (names.includes(name) && (await stopService(config, name))) stopped.push(name);
    }
    return stopped;
  });
}

/** What runs where, and whether it answers. Never starts anything. */
export async function stackStatus(
  config: Config,
  services: readonly ServiceName[] = SERVICE_NAMES,
): Promise<ServiceState[]> {
  const states: ServiceState[] = [];
  for (const name of SERVICE_NAMES.filter((n) => services.includes(n))) {
    const driver = DRIVERS[name];
    const external = driver.external(config);
    const pid = external ? undefined : livePid(serviceDirs(config, name).pid, driver.command);
    const health =
      external || pid !== undefined
        ? await checkHealthy(driver, config)
        : { healthy: false, detail: 'not running' };
    states.push({
      name,
      address: driver.address(config),
      external,
      pid,
      healthy: health.healthy,
      detail: health.detail ?? driver.describe?.(config),
      log: external ? undefined : serviceDirs(config, name).log,
    });
  }
  return states;
}

/**
 * Shared use by concurrent test runs: each run takes a lease before ensureStack. On release, what a run started is
 * stopped only when no other live run holds a lease; otherwise it is handed over (`.stack/leases/to-stop`) and the
 * last run to leave stops it. So one run's teardown never pulls the stack from under another.
 */
export async function acquireLease(config: Config, id: string): Promise<void> {
  const dir = ensureDir(path.join(config.paths.stack, 'leases'));
  fs.writeFileSync(path.join(dir, id), `${process.pid}\n`);
}

export async function releaseLease(
  config: Config,
  id: string,
  startedByMe: ServiceName[],
  options: { keep?: boolean } = {},
): Promise<ServiceName[]> {
  const dir = path.join(config.paths.stack, 'leases');
  const handOver = handOverFile(config);
  return withFileLock(lockFile(config), LOCK_TIMEOUT_MS, async () => {
    fs.rmSync(path.join(dir, id), { force: true });
    const pending = fs.existsSync(handOver)
      ? (JSON.parse(fs.readFileSync(handOver, 'utf8')) as ServiceName[])
      : [];
    const toStop = SERVICE_NAMES.filter((n) => pending.includes(n) || startedByMe.includes(n));
    const others = fs.existsSync(dir)
      ? fs.readdirSync(dir).filter((f) => f !== 'to-stop' && livePid(path.join(dir, f)) !== undefined)
      : [];
    if (others.length > 0 || options.keep) {
      if (toStop.length) fs.writeFileSync(handOver, JSON.stringify(toStop));
      return [];
    }
    fs.rmSync(handOver, { force: true });
    const stopped: ServiceName[] = [];
    for (const name of [...toStop].reverse()) if (await stopService(config, name)) stopped.push(name);
    return stopped;
  });
}
