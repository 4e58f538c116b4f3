import path from 'node:path';
import { Connection } from '@temporalio/client';
import type { Config } from '../../platform/config';
import { TributaryError } from '../../platform/errors';
import { isExecutable, runCommand, spawnDetached, which } from './process';
import { requireTool } from './prerequisites';
import { ensureDir, serviceDirs, type ServiceDriver, type StackContext } from './service';

/** The last CLI tag `go install` can build (later tags carry a `replace` directive that go install refuses). */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

function cachedTemporalBin(config: Config): string {
  return path.join(config.paths.cache, 'bin', 'temporal');
}

/** The temporal CLI we would use, without building it: TEMPORAL_BIN, then PATH, then the cache. */
export function findTemporalBin(config: Config): string | undefined {
  const fromEnv = config.env.TEMPORAL_BIN;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) {
      throw new TributaryError(
        `TEMPORAL_BIN does not name an executable file; unset it to let the stack build the temporal CLI`,
        {
          code: 'invalid',
          location: 'TEMPORAL_BIN',
          nonRetryable: true,
        },
      );
    }
    return path.resolve(fromEnv);
  }
  return (
    which('temporal') ?? (isExecutable(cachedTemporalBin(config)) ? cachedTemporalBin(config) : undefined)
  );
}

/** The temporal CLI, built with `go install` into the user cache when nothing else provides it. */
export async function ensureTemporalBin(config: Config, progress: (m: string) => void): Promise<string> {
  const found = findTemporalBin(config);
  if (found) return found;
  const go = requireTool(
    'go',
    'the temporal CLI is built from source with `go install`',
    'install Go (https://go.dev/dl), or set TEMPORAL_BIN to a temporal CLI binary, or TEMPORAL_ADDRESS to your own server',
  );
  const gobin = ensureDir(path.dirname(cachedTemporalBin(config)));
  const logFile = path.join(ensureDir(config.paths.logs), 'temporal-build.log');
  progress(
    `building the temporal CLI (${TEMPORAL_CLI_MODULE}) into ${gobin}; this takes a few minutes once (log: ${logFile})`,
  );
  await runCommand(go, ['install', TEMPORAL_CLI_MODULE], {
    // Module downloads and build objects go to our cache too, so a fresh clone or CI run with a warm cache
    // rebuilds nothing; -modcacherw keeps that cache deletable.
    env: {
      ...process.env,
      GOBIN: gobin,
      GOPATH: path.join(config.paths.cache, 'go'),
      GOMODCACHE: path.join(config.paths.cache, 'go', 'mod'),
      GOCACHE: path.join(config.paths.cache, 'go', 'build'),
      GOFLAGS: '-modcacherw',
      CGO_ENABLED: '0',
    },
    timeoutMs: 40 * 60_000,
    logFile,
  });
  if (!isExecutable(cachedTemporalBin(config)))
    throw new TributaryError(`go install finished but ${cachedTemporalBin(config)} is missing`, {
      code: 'exception',
    });
  return cachedTemporalBin(config);
}

export const temporalService: ServiceDriver = {
  name: 'temporal',
  command: 'temporal',
  address: (config) => config.temporal.address,
  external: (config) => config.temporal.external,
  ports: (config) => [
    { port: config.env.TRIBUTARY_TEMPORAL_PORT, variable: 'TRIBUTARY_TEMPORAL_PORT' },
    { port: config.env.TRIBUTARY_TEMPORAL_UI_PORT, variable: 'TRIBUTARY_TEMPORAL_UI_PORT' },
  ],
  startTimeoutMs: 120_000,
  async prepare(ctx: StackContext) {
    await ensureTemporalBin(ctx.config, ctx.progress);
  },
  async start(ctx: StackContext) {
    const { config } = ctx;
    const dirs = serviceDirs(config, 'temporal');
    ensureDir(dirs.home);
    const bin = await ensureTemporalBin(config, ctx.progress);
    const args = [
      'server',
      'start-dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(config.env.TRIBUTARY_TEMPORAL_PORT),
      '--ui-port',
      String(config.env.TRIBUTARY_TEMPORAL_UI_PORT),
      '--db-filename',
      path.join(dirs.home, 'temporal.db'),
      // Write-ahead log: each commit appends instead of writing and deleting a rollback journal. A crash of the
      // server process loses nothing (the WAL is on disk); only an OS crash can lose the last commits.
      '--sqlite-pragma',
      'journal_mode=wal',
      '--sqlite-pragma',
      'synchronous=normal',
      '--namespace',
      config.temporal.namespace,
      '--log-level',
      'warn',
    ];
    // The CLI reads ~/.config/temporalio; keep the user's client profile out of the server.
    return spawnDetached(bin, args, {
      logFile: dirs.log,
      pidFile: dirs.pid,
      cwd: dirs.home,
      env: { ...process.env, TEMPORAL_ADDRESS: '' },
    });
  },
  async healthy(config: Config) {
    const connection = await Connection.connect({ address: config.temporal.address, connectTimeout: '2s' });
    try {
      // The namespace answering is what workers and clients need, not just the port.
      await connection.workflowService.describeNamespace({ namespace: config.temporal.namespace });
      return true;
    } finally {
      await connection.close();
    }
  },
  describe: (config) =>
    config.temporal.external ? undefined : `UI http://127.0.0.1:${config.temporal.uiPort}`,
};
