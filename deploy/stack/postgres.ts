import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { Config } from '../../platform/config';
import { TributaryError } from '../../platform/errors';
import { runCommand, spawnDetached } from './process';
import { ensureDebianPackages, isRoot } from './prerequisites';
import { ensureDir, serviceDirs, type ServiceDriver, type StackContext } from './service';

/** Debian 12's PostgreSQL. The local cluster listens on 127.0.0.1 only, with trust auth (see README). */
export const PG_MAJOR = 15;
const PG_BIN = `/usr/lib/postgresql/${PG_MAJOR}/bin`;
/** Databases the stack creates: the app's and Orthanc's index. */
export const STACK_DATABASES = ['tributary', 'orthanc'] as const;
const APP_ROLE = 'tributary';

interface Owner {
  uid?: number;
  gid?: number;
}

/** PostgreSQL refuses to run as root: as root we run it as the `postgres` system user the Debian package creates. */
async function serverOwner(): Promise<Owner> {
  if (!isRoot()) return {};
  const uid = Number((await runCommand('id', ['-u', 'postgres'], { timeoutMs: 10_000 })).stdout.trim());
  const gid = Number((await runCommand('id', ['-g', 'postgres'], { timeoutMs: 10_000 })).stdout.trim());
  if (!Number.isInteger(uid) || !Number.isInteger(gid))
    throw new TributaryError('cannot resolve the postgres system user', { code: 'not-found' });
  return { uid, gid };
}

function adminUrl(config: Config, database = 'postgres'): string {
  return `postgres://postgres@127.0.0.1:${config.env.TRIBUTARY_PG_PORT}/${database}`;
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  // An error event on an idle client would otherwise crash the process.
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export const postgresService: ServiceDriver = {
  name: 'postgres',
  command: 'postgres',
  address: (config) => config.database.url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@'),
  external: (config) => config.database.external,
  ports: (config) => [{ port: config.env.TRIBUTARY_PG_PORT, variable: 'TRIBUTARY_PG_PORT' }],
  startTimeoutMs: 60_000,
  stopSignal: 'SIGINT',
  async prepare(ctx: StackContext) {
    if (!fs.existsSync(path.join(PG_BIN, 'postgres'))) {
      await ensureDebianPackages([`postgresql-${PG_MAJOR}`], 'the local PostgreSQL', ctx.progress);
    }
    if (!fs.existsSync(path.join(PG_BIN, 'postgres')))
      throw new TributaryError(`PostgreSQL ${PG_MAJOR} is not at ${PG_BIN} after installing it`, {
        code: 'not-found',
      });
  },
  async start(ctx: StackContext) {
    const { config } = ctx;
    const dirs = serviceDirs(config, 'postgres');
    const data = path.join(ensureDir(dirs.home), 'data');
    const owner = await serverOwner();
    if (!fs.existsSync(path.join(data, 'PG_VERSION'))) {
      ctx.progress('initializing the PostgreSQL cluster');
      fs.rmSync(data, { recursive: true, force: true });
      fs.mkdirSync(data, { mode: 0o700 });
      if (owner.uid !== undefined) fs.chownSync(data, owner.uid, owner.gid!);
      await runCommand(
        path.join(PG_BIN, 'initdb'),
        ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8'],
        {
          timeoutMs: 180_000,
          ...owner,
          cwd: '/',
          env: { ...process.env, LC_ALL: 'C.UTF-8' },
        },
      );
    }
    const args = [
      '-D',
      data,
      '-p',
      String(config.env.TRIBUTARY_PG_PORT),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'max_connections=200',
      '-c',
      'shared_buffers=128MB',
    ];
    return spawnDetached(path.join(PG_BIN, 'postgres'), args, {
      logFile: dirs.log,
      pidFile: dirs.pid,
      cwd: '/',
      ...owner,
    });
  },
  async afterStart(ctx: StackContext) {
    await withClient(adminUrl(ctx.config), async (c) => {
      const role = await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [APP_ROLE]);
      if (role.rowCount === 0) await c.query(`CREATE ROLE ${APP_ROLE} LOGIN CREATEDB`);
      for (const db of STACK_DATABASES) {
        const exists = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [db]);
        // CREATE DATABASE cannot run in a transaction or take parameters; names are our constants.
        if (exists.rowCount === 0) await c.query(`CREATE DATABASE ${db} OWNER ${APP_ROLE}`);
      }
    });
  },
  async healthy(config: Config) {
    const url = config.database.external ? config.database.url : adminUrl(config);
    return withClient(url, async (c) => (await c.query('SELECT 1 AS ok')).rows[0]?.ok === 1);
  },
};
