import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { TributaryError, toError } from '../platform/errors';

/**
 * The little the store needs from a database, over `pg` (PostgreSQL in production) and PGlite (embedded, the
 * default). Both speak the same SQL; migrations in annotation/migrations run on open.
 */
export interface Sql {
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
}

export interface Db extends Sql {
  readonly kind: 'pg' | 'pglite';
  /** Run fn in one transaction; retried on serialization failures and deadlocks. */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

const require = createRequire(import.meta.url);
const migrationsDir = path.resolve(import.meta.dirname, 'migrations');
const retryableCodes = new Set(['40001', '40P01']);

export async function openDb(options: {
  databaseUrl?: string;
  dataDir?: string;
  poolSize?: number;
  schema?: string;
}): Promise<Db> {
  if (options.schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(options.schema)) {
    throw new TributaryError('queue store schema: lower-case letters, digits and underscores only', {
      code: 'invalid',
      nonRetryable: true,
    });
  }
  const db = options.databaseUrl
    ? await openPg(options.databaseUrl, options.poolSize ?? 24, options.schema)
    : await openPglite(options.dataDir, options.schema);
  try {
    await migrate(db);
  } catch (e) {
    await db.close();
    throw e;
  }
  return db;
}

async function openPg(url: string, max: number, schema: string | undefined): Promise<Db> {
  if (schema) {
    const admin = new pg.Client({ connectionString: url });
    await wrap(() => admin.connect());
    try {
      await wrap(() => admin.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`));
    } finally {
      await admin.end();
    }
  }
  const pool = new pg.Pool({
    connectionString: url,
    max,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  });
  // An idle client's error (server restart) must not crash the process; the next query reports it.
  pool.on('error', () => undefined);
  // Named statements: each connection parses and plans a query text once (the claim queries are costly to plan).
  const names = new Map<string, string>();
  const nameOf = (text: string) => {
    let n = names.get(text);
    if (!n) names.set(text, (n = `q_${createHash('sha1').update(text).digest('hex').slice(0, 16)}`));
    return n;
  };
  const run = async <T>(client: pg.Pool | pg.PoolClient, text: string, params?: unknown[]) =>
    (
      await client.query({
        name: params?.length ? nameOf(text) : undefined,
        text,
        values: params as unknown[],
      })
    ).rows as T[];
  return {
    kind: 'pg',
    query: <T>(text: string, params?: unknown[]) => wrap(() => run<T>(pool, text, params)),
    transaction: <T>(fn: (tx: Sql) => Promise<T>) =>
      withRetry(async () => {
        const client = await wrap(() => pool.connect());
        try {
          await client.query('BEGIN');
          const out = await fn({
            query: <U>(text: string, params?: unknown[]) => wrap(() => run<U>(client, text, params)),
          });
          await client.query('COMMIT');
          return out;
        } catch (e) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw e;
        } finally {
          client.release();
        }
      }),
    close: () => pool.end(),
  };
}

async function openPglite(dataDir: string | undefined, schema: string | undefined): Promise<Db> {
  const inMemory = !dataDir || dataDir === 'memory://';
  if (!inMemory) mkdirSync(dataDir, { recursive: true });
  const lite = inMemory
    ? await PGlite.create({ loadDataDir: await freshClusterImage() })
    : await PGlite.create(dataDir);
  if (schema) await lite.exec(`CREATE SCHEMA IF NOT EXISTS ${schema}; SET search_path TO ${schema}`);
  return {
    kind: 'pglite',
    query: <T>(text: string, params?: unknown[]) =>
      wrap(async () => (await lite.query<T>(text, params)).rows),
    transaction: <T>(fn: (tx: Sql) => Promise<T>) =>
      withRetry(() =>
        lite.transaction((tx) =>
          fn({
            query: <U>(text: string, params?: unknown[]) =>
              wrap(async () => (await tx.query<U>(text, params)).rows),
          }),
        ),
      ),
    close: () => lite.close(),
  };
}

/**
 * PGlite runs initdb on every new in-memory database (seconds on a busy machine). Tests and benchmarks open many,
 * so the freshly initialized cluster is kept as an image in the temp folder, one per PGlite version, and loaded.
 */
async function freshClusterImage(): Promise<Blob> {
  const file = path.join(os.tmpdir(), `tributary-pglite-initdb-${pgliteVersion()}.tar`);
  if (existsSync(file)) return new Blob([readFileSync(file)]);
  const lite = await PGlite.create('memory://');
  const image = await lite.dumpDataDir('none');
  await lite.close();
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, Buffer.from(await image.arrayBuffer()));
  renameSync(tmp, file); // atomic: concurrent test processes never read a half-written image
  return image;
}

function pgliteVersion(): string {
  const pkg = JSON.parse(
    readFileSync(
      path.resolve(path.dirname(require.resolve('@electric-sql/pglite')), '..', 'package.json'),
      'utf8',
    ),
  ) as { version: string };
  return pkg.version;
}

/** Database errors become TributaryErrors that keep the SQLSTATE (for retries and conflict handling). */
export class DbError extends TributaryError {
  constructor(
    message: string,
    readonly sqlState: string | undefined,
    cause: unknown,
  ) {
    super(message, { code: retryableCodes.has(sqlState ?? '') ? 'transient' : 'exception', cause });
    this.name = 'DbError';
  }
}

async function wrap<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof DbError) throw e;
    const err = toError(e);
    const code = (e as { code?: unknown }).code;
    // Database messages can quote row values (unique violations echo keys): keep only the SQLSTATE.
    throw new DbError(
      `queue store database error${typeof code === 'string' ? ` (SQLSTATE ${code})` : `: ${err.message.split('\n')[0]}`}`,
      typeof code === 'string' ? code : undefined,
      err,
    );
  }
}

async function withRetry<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof DbError) || !retryableCodes.has(e.sqlState ?? '') || attempt >= 8) throw e;
      await new Promise((r) => setTimeout(r, 5 * attempt + Math.random() * 10));
    }
  }
}

async function migrate(db: Db): Promise<void> {
  const files = readdirSync(migrationsDir)
    .filter((f) => f.endsWith('.sql'))
    .sort();
  await db.transaction(async (tx) => {
    // One migrator at a time across processes sharing a PostgreSQL database.
    await tx.query('SELECT pg_advisory_xact_lock(7312001)');
    await tx.query(
      'CREATE TABLE IF NOT EXISTS queue_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    for (const file of files) {
      const done = await tx.query('SELECT 1 FROM queue_migrations WHERE name = $1', [file]);
      if (done.length) continue;
      for (const statement of splitStatements(readFileSync(path.join(migrationsDir, file), 'utf8')))
        await tx.query(statement);
      await tx.query('INSERT INTO queue_migrations (name) VALUES ($1)', [file]);
    }
  });
}

/** Migration files hold plain DDL: split on semicolons at line ends, dropping comment-only chunks. */
function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*$/m)
    .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
    .filter(Boolean);
}
