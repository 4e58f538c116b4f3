import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../../platform/config';
import { getHealthJson, runCommand, spawnDetached } from './process';
import { requireJava17, requireTool } from './prerequisites';
import { ensureDir, mavenRepository, serviceDirs, type ServiceDriver, type StackContext } from './service';

/**
 * The stack's FHIR server: HAPI FHIR's JPA server (R4, an H2 database under `.stack/fhir`), so publishing to a FHIR
 * server is tested against a real one: transactions and batches, client-assigned ids, references checked on write,
 * searches by identifier. Its source is `deploy/fhir-server` (a small Java program on HAPI's Maven artifacts); it is
 * built once per source version into the user cache, with the Maven repository the Kafka jars use (mavenRepository).
 */
const SOURCE_DIR = path.resolve(import.meta.dirname, '..', 'fhir-server');
const MAIN_CLASS = 'dev.tributary.fhirserver.Main';

/** Every file of the server's source, sorted, for the build's cache key. */
function sourceFiles(): string[] {
  return fs
    .readdirSync(SOURCE_DIR, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(SOURCE_DIR, path.join(e.parentPath, e.name)))
    .filter((f) => !f.split(path.sep).includes('target'))
    .sort();
}

function buildDir(config: Config): string {
  const hash = crypto.createHash('sha256');
  for (const f of sourceFiles())
    hash
      .update(f)
      .update('\0')
      .update(fs.readFileSync(path.join(SOURCE_DIR, f)));
  return path.join(config.paths.cache, 'fhir-server', hash.digest('hex').slice(0, 12));
}

/** Build the server (compile, and copy its runtime jars beside it) unless this source version is built already. */
export async function ensureFhirServerBuild(config: Config, progress: (m: string) => void): Promise<string> {
  const dir = buildDir(config);
  if (fs.existsSync(path.join(dir, '.complete'))) return dir;
  const mvn = requireTool(
    'mvn',
    'the local FHIR server (HAPI FHIR) is built from Maven Central with Maven',
    'install it (Debian: apt-get install -y maven), or set FHIR_SERVER_URL to use your own FHIR server',
  );
  const staging = `${dir}.tmp-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  for (const f of sourceFiles()) {
    const to = path.join(staging, f);
    ensureDir(path.dirname(to));
    fs.copyFileSync(path.join(SOURCE_DIR, f), to);
  }
  const logFile = path.join(ensureDir(config.paths.logs), 'fhir-build.log');
  progress(
    `building the local FHIR server (HAPI FHIR, ~340 MB from Maven Central the first time; log: ${logFile})`,
  );
  await runCommand(mvn, ['-B', '-q', `-Dmaven.repo.local=${mavenRepository(config)}`, 'package'], {
    cwd: staging,
    timeoutMs: 20 * 60_000,
    logFile,
  });
  fs.writeFileSync(path.join(staging, '.complete'), `${new Date().toISOString()}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(staging, dir);
  return dir;
}

export const fhirService: ServiceDriver = {
  name: 'fhir',
  command: 'java',
  address: (config) => config.fhir.url,
  external: (config) => config.fhir.external,
  ports: (config) => [{ port: config.env.TRIBUTARY_FHIR_PORT, variable: 'TRIBUTARY_FHIR_PORT' }],
  // About 15 s alone; beside the other services starting on two cores, longer.
  startTimeoutMs: 180_000,
  async prepare(ctx: StackContext) {
    await requireJava17();
    await ensureFhirServerBuild(ctx.config, ctx.progress);
  },
  async start(ctx: StackContext) {
    const { config } = ctx;
    const java = await requireJava17();
    const build = await ensureFhirServerBuild(config, ctx.progress);
    const dirs = serviceDirs(config, 'fhir');
    const db = ensureDir(path.join(dirs.home, 'db'));
    const classPath = [path.join(build, 'target', 'classes'), `${path.join(build, 'target', 'lib')}/*`].join(
      path.delimiter,
    );
    return spawnDetached(
      java,
      [
        '-Xms128m',
        '-Xmx512m',
        // C1 only and the serial collector: a test server starts in two thirds of the time and holds 600 MB, not 900.
        '-XX:TieredStopAtLevel=1',
        '-XX:+UseSerialGC',
        '-Djava.awt.headless=true',
        '-cp',
        classPath,
        MAIN_CLASS,
        String(config.env.TRIBUTARY_FHIR_PORT),
        db,
      ],
      { logFile: dirs.log, pidFile: dirs.pid, cwd: dirs.home },
    );
  },
  async healthy(config: Config) {
    const statement = (await getHealthJson(`${config.fhir.url}/metadata`, {
      accept: 'application/fhir+json',
      timeoutMs: 5000,
    })) as { resourceType?: string };
    return statement.resourceType === 'CapabilityStatement';
  },
  describe: (config) =>
    `FHIR base ${config.fhir.url} (publish a run to it: ingest run --fhir-server <that URL>)`,
};
