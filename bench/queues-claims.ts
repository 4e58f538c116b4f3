/**
 * Claims+submits per second with 20 concurrent annotators, on PGlite (embedded) and PostgreSQL (DATABASE_URL, or
 * the local stack's), through the store directly and through the HTTP API. Each run gets a fresh schema / database.
 *
 *   npx tsx bench/queues-claims.ts [--items 600] [--runs 3] [--annotators 20] [--only pglite|pg]
 */
import crypto from 'node:crypto';
import pg from 'pg';
import { loadRoutingRules, type RoutingRules } from '../annotation/routing';
import { cardiologyItems } from '../annotation/sample-items';
import { startAnnotationServer } from '../annotation/server';
import { openQueueStore, type QueueStore } from '../annotation/store';
import { loadConfig } from '../platform/config';
import { median } from './median';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const items = Number(arg('items', '600'));
const runs = Number(arg('runs', '3'));
const annotators = Number(arg('annotators', '20'));
const only = arg('only', '');
const overlap = 2;

const base = loadRoutingRules();
const rules: RoutingRules = {
  ...base,
  queues: [
    {
      id: 'bench',
      title: 'Bench',
      taskType: 'classification',
      labels: ['x', 'y'],
      leaseSeconds: 600,
      minItemAgreement: 0,
      maxAnnotators: overlap,
      review: false,
    },
  ],
  rules: [
    {
      name: 'bench',
      queue: 'bench',
      match: { textAny: ['chest pain'] },
      priority: 1,
      annotators: overlap,
      goldShare: 0,
    },
  ],
};

type Mode = 'store' | 'http';

async function runOnce(kind: 'pglite' | 'pg', mode: Mode): Promise<{ perSecond: number; pairs: number }> {
  const schema = `annotation_bench_${crypto.randomBytes(4).toString('hex')}`;
  const url = process.env.DATABASE_URL ?? loadConfig().database.url;
  const store: QueueStore =
    kind === 'pg'
      ? await openQueueStore({ databaseUrl: url, schema, poolSize: annotators + 4 })
      : await openQueueStore({ dataDir: 'memory://' });
  try {
    await store.enqueue(cardiologyItems(items, `bench-${schema}`), rules);
    const users = await Promise.all(
      Array.from({ length: annotators }, (_, i) =>
        store.addUser({ id: `bench-${i}`, role: 'annotator', queues: ['bench'] }),
      ),
    );
    const server =
      mode === 'http' ? await startAnnotationServer({ store, port: 0, host: '127.0.0.1' }) : undefined;
    let pairs = 0;
    const started = process.hrtime.bigint();
    await Promise.all(
      users.map(async ({ user, token }) => {
        for (;;) {
          if (server) {
            const auth = { authorization: `Bearer ${token}` };
            const c = await fetch(`${server.url}/api/queues/bench/claim`, { method: 'POST', headers: auth });
            if (c.status === 204) return;
            if (c.status !== 200) throw new Error(`claim answered ${c.status}`);
            const { claim } = (await c.json()) as { claim: { assignmentId: string } };
            const s = await fetch(`${server.url}/api/assignments/${claim.assignmentId}/submit`, {
              method: 'POST',
              headers: { ...auth, 'content-type': 'application/json' },
              body: JSON.stringify({ labels: { label: 'x' } }),
            });
            if (s.status !== 200) throw new Error(`submit answered ${s.status}`);
          } else {
            const c = await store.claimNext(user, 'bench');
            if (!c) return;
            await store.submit(user, c.assignmentId, { label: 'x' });
          }
          pairs++;
        }
      }),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    await server?.close();
    if (pairs !== items * overlap)
      throw new Error(`expected ${items * overlap} claim+submit pairs, got ${pairs}`);
    return { perSecond: pairs / seconds, pairs };
  } finally {
    await store.close();
    if (kind === 'pg') {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    }
  }
}

const results: Record<string, number> = {};
process.stdout.write(
  `queues bench: ${items} items × overlap ${overlap} = ${items * overlap} claim+submit pairs, ${annotators} concurrent annotators, median of ${runs} runs\n`,
);
for (const kind of ['pglite', 'pg'] as const) {
  if (only && only !== kind) continue;
  for (const mode of ['store', 'http'] as const) {
    const figures: number[] = [];
    for (let r = 0; r < runs; r++) figures.push((await runOnce(kind, mode)).perSecond);
    const m = median(figures);
    results[`${kind}/${mode}`] = m;
    process.stdout.write(
      `  ${kind.padEnd(6)} ${mode.padEnd(5)} ${m.toFixed(0).padStart(6)} claims+submits/s  (runs: ${figures.map((f) => f.toFixed(0)).join(', ')})\n`,
    );
  }
}
if (results['pg/store'] && results['pglite/store']) {
  process.stdout.write(
    `  ratio PostgreSQL/PGlite: store ${(results['pg/store'] / results['pglite/store']).toFixed(2)}×, http ${(results['pg/http'] / results['pglite/http']).toFixed(2)}×\n`,
  );
}
