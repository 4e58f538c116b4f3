import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import sharp from 'sharp';
import { z } from 'zod';
import { loadRoutingRules } from '../../annotation/routing';
import { sampleItems } from '../../annotation/sample-items';
import { startAnnotationServer } from '../../annotation/server';
import { openQueueStore, roleSchema, type QueueStore } from '../../annotation/store';
import { prunePreviews } from '../../activities/previews';
import { ingestPaths, queueStoreLocation } from '../../activities/runtime';
import { loadConfig, parseAtEdge } from '../../platform/config';
import { TributaryError } from '../../platform/errors';
import { PREVIEW_GRACE_MINUTES } from '../../workflows/definitions';

interface StoreOptions {
  databaseUrl?: string;
  dataDir?: string;
  rules?: string;
}

/** PostgreSQL when --database-url or DATABASE_URL is given; otherwise PGlite under the data folder. */
async function openStore(opts: StoreOptions): Promise<QueueStore> {
  const config = loadConfig();
  // --database-url, else DATABASE_URL, else PGlite in --data-dir or the data folder.
  const store = await openQueueStore(
    opts.databaseUrl
      ? { databaseUrl: opts.databaseUrl }
      : opts.dataDir && !config.database.external
        ? { dataDir: opts.dataDir }
        : queueStoreLocation(config),
  );
  // Queues exist as soon as the rules name them, so users can be assigned before the first item arrives.
  await store.defineQueues(loadRoutingRules(opts.rules).queues);
  return store;
}

function storeFlags(cmd: Command): Command {
  return cmd
    .option(
      '--database-url <url>',
      'PostgreSQL connection string (default: DATABASE_URL if set, else embedded PGlite)',
    )
    .option('--data-dir <dir>', 'PGlite data folder (default: <TRIBUTARY_DATA_DIR>/queues)')
    .option('--rules <file>', 'routing rules (default: config/routing/rules.json)');
}

const PREVIEWS_FLAG = '--previews <dir>';
const PREVIEWS_HELP = 'folder that preview refs resolve against (default: <TRIBUTARY_DATA_DIR>/previews)';
const previewRootOf = (opts: { previews?: string }) =>
  path.resolve(opts.previews ?? ingestPaths(loadConfig()).previews);

const fmt = (v: number | null | undefined, digits = 3) =>
  v === null || v === undefined ? '-' : v.toFixed(digits);

export function registerQueues(program: Command): void {
  const queues = program
    .command('queues')
    .description('annotation queues: the HTTP API and annotator page, users, statistics')
    .addHelpText(
      'after',
      `
Examples:
  npx tributary queues add-user dr-lee --role annotator --queues cardiology,pharmacy
  npx tributary queues serve --port 8750          then open http://127.0.0.1:8750/ and sign in with the token
  npx tributary queues serve --demo               sample de-identified items and a demo annotator
  npx tributary queues stats --queue cardiology
  npx tributary queues prune-previews --dry-run   what old preview versions would be removed`,
    );

  storeFlags(
    queues
      .command('serve')
      .description('serve the annotation API (OpenAPI at /openapi.json) and the annotator page')
      .option('--port <port>', 'port', '8750')
      .option('--host <host>', 'interface to listen on', '127.0.0.1')
      .option(PREVIEWS_FLAG, PREVIEWS_HELP)
      .option('--demo', 'enqueue sample items and create a demo annotator (token printed once)'),
  ).action(async (opts: StoreOptions & { port: string; host: string; previews?: string; demo?: boolean }) => {
    const port = parseAtEdge(z.coerce.number().int().min(0).max(65535), opts.port, '--port');
    const previewRoot = previewRootOf(opts);
    const store = await openStore(opts);
    if (opts.demo) {
      const items = sampleItems(24);
      for (const it of items)
        for (const p of it.previews ?? []) {
          mkdirSync(path.dirname(path.join(previewRoot, p.ref)), { recursive: true });
          await sharp(demoSlice).png().toFile(path.join(previewRoot, p.ref));
        }
      const r = await store.enqueue(items, loadRoutingRules(opts.rules));
      const { token } = await store.addUser({
        id: 'demo-annotator',
        role: 'annotator',
        queues: loadRoutingRules(opts.rules).queues.map((q) => q.id),
      });
      process.stdout.write(
        `demo: enqueued ${r.enqueued} sample items (${r.duplicates} already present); demo-annotator token: ${token}\n`,
      );
    }
    const server = await startAnnotationServer({ store, port, host: opts.host, previewRoot });
    process.stdout.write(
      `annotation server on ${server.url} (store: ${store.kind}); API description at ${server.url}/openapi.json\n`,
    );
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await server.close();
    await store.close();
  });

  storeFlags(
    queues
      .command('add-user <id>')
      .description('create a user (or issue a new token to an existing one) and print the token once')
      .requiredOption('--role <role>', 'admin, reviewer or annotator')
      .option('--queues <list>', 'comma-separated queues the user works on (annotators see only these)', ''),
  ).action(async (id: string, opts: StoreOptions & { role: string; queues: string }) => {
    const role = parseAtEdge(roleSchema, opts.role, '--role');
    const list = opts.queues
      .split(',')
      .map((q) => q.trim())
      .filter(Boolean);
    const store = await openStore(opts);
    try {
      const { user, token } = await store.addUser({ id, role, queues: list });
      process.stdout.write(
        `${user.id} (${user.role}; queues: ${user.queues.join(', ') || 'none'})\ntoken: ${token}\n`,
      );
      process.stderr.write(
        'The token is shown only now; store it safely. Running add-user again issues a new one.\n',
      );
    } finally {
      await store.close();
    }
  });

  storeFlags(
    queues
      .command('prune-previews')
      .description(
        'remove preview pictures that no stored work item refers to (old versions of corrected studies)',
      )
      .option(PREVIEWS_FLAG, PREVIEWS_HELP)
      .option(
        '--grace <minutes>',
        'leave versions written in the last <minutes>: their items may not be stored yet',
        String(PREVIEW_GRACE_MINUTES),
      )
      .option('--dry-run', 'count what would be removed, remove nothing'),
  ).action(async (opts: StoreOptions & { previews?: string; grace: string; dryRun?: boolean }) => {
    const grace = parseAtEdge(z.coerce.number().min(0), opts.grace, '--grace');
    const root = previewRootOf(opts);
    const store = await openStore(opts);
    try {
      // The refs are read before the walk: a version stored after this is younger than the grace period.
      const r = await prunePreviews({
        root,
        referenced: await store.previewRefs(),
        graceMs: grace * 60_000,
        dryRun: opts.dryRun,
      });
      process.stdout.write(
        `previews in ${root}: ${r.kept} version(s) kept, ${r.removed} ${opts.dryRun ? 'would be removed' : 'removed'}` +
          ` (${(r.bytesRemoved / 1e6).toFixed(1)} MB), ${r.recent} younger than ${grace} min left alone\n`,
      );
    } finally {
      await store.close();
    }
  });

  storeFlags(
    queues
      .command('stats')
      .description(
        "queue counts, agreement (Cohen's, Fleiss' kappa, Krippendorff's alpha) and per-annotator statistics",
      )
      .option('--queue <id>', 'only this queue')
      .option('--json', 'print JSON'),
  ).action(async (opts: StoreOptions & { queue?: string; json?: boolean }) => {
    const store = await openStore(opts);
    try {
      const all = await store.listQueues();
      const chosen = opts.queue ? all.filter((q) => q.id === opts.queue) : all;
      if (opts.queue && !chosen.length)
        throw new TributaryError(`queue "${opts.queue}" not found`, {
          code: 'not-found',
          location: '--queue',
        });
      const report = [];
      for (const q of chosen) {
        report.push({
          queue: q.id,
          counts: q.counts,
          agreement: await store.agreement(q.id),
          annotators: await store.annotatorStats(q.id),
        });
      }
      if (opts.json) {
        process.stdout.write(JSON.stringify(report, null, 2) + '\n');
        return;
      }
      for (const r of report) {
        const a = r.agreement;
        process.stdout.write(
          `${r.queue}: open ${r.counts.open}, in review ${r.counts.review}, done ${r.counts.done}` +
            (r.counts.corrected
              ? `; ${r.counts.corrected} begun before their source was corrected (exports mark their labels)`
              : '') +
            '\n' +
            `  agreement over ${a.units} items: Fleiss' kappa ${fmt(a.fleissKappa)}, Krippendorff's alpha ${fmt(a.krippendorffAlpha)}, mean Cohen's kappa ${fmt(a.meanCohensKappa)} (${a.cohensKappa.length} pairs)\n`,
        );
        for (const s of r.annotators) {
          process.stdout.write(
            `  ${s.annotator.padEnd(20)} submitted ${String(s.submitted).padStart(5)}  skipped ${String(s.skipped).padStart(4)}  expired ${String(s.expired).padStart(3)}  median ${fmt(s.medianSecondsPerItem, 1)} s  gold ${s.gold.correct}/${s.gold.scored}  agreement ${fmt(s.pairwiseAgreement, 2)}\n`,
          );
        }
      }
    } finally {
      await store.close();
    }
  });
}

const demoSlice = Buffer.from(
  '<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256"><rect width="256" height="256" fill="#111"/>' +
    '<ellipse cx="128" cy="128" rx="110" ry="90" fill="#777"/><ellipse cx="90" cy="120" rx="35" ry="50" fill="#222"/>' +
    '<ellipse cx="166" cy="120" rx="35" ry="50" fill="#222"/><circle cx="170" cy="100" r="7" fill="#ddd"/></svg>',
);
