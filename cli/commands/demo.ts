import path from 'node:path';
import type { Command } from 'commander';
import { ensureStack } from '../../deploy/stack/stack';
import { queueStoreLocation } from '../../activities/runtime';
import { openQueueStore } from '../../annotation/store';
import { loadConfig, type Config } from '../../platform/config';
import { TributaryError } from '../../platform/errors';
import { createTemporalClient } from '../../platform/temporal';
import { generateSynth } from '../../synth/generate';
import { startSynthServer } from '../../synth/serve';
import { ingestRunWorkflowId } from '../../workflows/definitions';
import {
  formatReconciliation,
  formatReleaseRisk,
  newRunId,
  progressLine,
  startIngestRun,
  waitForRun,
} from './ingest';
import { startIngestWorkers } from './worker';

/**
 * The README's first command: the whole main job on local defaults. The stack comes up, the synthetic institutions
 * are generated and served, a worker runs in this process, every institution is ingested, and the end says what
 * reconciled and where everything is.
 */
/**
 * The queues as annotators will find them: open items per queue. Items no routing rule matches are stored but in no
 * queue (config/routing/rules.json decides), so the run's work item count alone overstates what is waiting.
 */
async function describeQueues(config: Config, workItems: number): Promise<string> {
  const store = await openQueueStore(queueStoreLocation(config));
  try {
    const queues = await store.listQueues();
    const open = queues.map((q) => `${q.id} ${q.counts.open}`).join(', ');
    return `annotation queues: ${workItems} work items stored; open in the queues now: ${open} (the rest matched no rule of config/routing/rules.json); open them with \`npx tributary queues serve\` (then http://127.0.0.1:8750/)`;
  } finally {
    await store.close();
  }
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'Run the whole pipeline locally: stack, 18 synthetic institutions, a worker, ingest, reconciliation',
    )
    .option('--patients <n>', 'synthetic patients per institution', '10')
    .option('--institutions <n>', 'how many of the 18 institutions', '18')
    .option('--seed <seed>', 'generator seed (same seed, same data)', 'tributary-demo')
    .option(
      '--fhir-server',
      "also publish to the local stack's HAPI FHIR server (started with the stack: ~20 s more, ~600 MB)",
    )
    .addHelpText(
      'after',
      '\nExamples:\n  npx tributary demo\n  npx tributary demo --patients 50\n  npx tributary demo --fhir-server',
    )
    .action(async (opts: { patients: string; institutions: string; seed: string; fhirServer?: boolean }) => {
      const patients = Number(opts.patients);
      const count = Number(opts.institutions);
      if (!Number.isInteger(patients) || patients < 1)
        throw new TributaryError('--patients must be a positive integer', { code: 'invalid' });
      const say = (m: string) => process.stdout.write(`${m}\n`);
      const config = loadConfig();

      const fhirServer = opts.fhirServer === true;
      say(
        `1/5 starting the local stack (Temporal, Kafka, Orthanc, PostgreSQL${fhirServer ? ', HAPI FHIR' : ''})...`,
      );
      // Without --fhir-server the demo publishes Bulk NDJSON only, and the FHIR server is left unstarted.
      await ensureStack(config, {
        services: ['postgres', 'temporal', 'kafka', 'orthanc', ...(fhirServer ? (['fhir'] as const) : [])],
        claim: true,
        progress: (m) => say(`    ${m}`),
      });

      const synthDir = path.join(config.paths.data, 'synth');
      say(`2/5 generating ${count} synthetic institutions x ${patients} patients into ${synthDir}...`);
      const { groundTruth, files } = generateSynth({
        out: synthDir,
        seed: opts.seed,
        patients,
        institutions: count,
        force: true,
      });
      const server = await startSynthServer({ dir: synthDir, port: 0 });
      say(
        `    ${files} files; served at ${server.url} (FHIR API at ${server.url}/<institution>/fhir, files at ${server.url}/<institution>/files/)`,
      );

      say('3/5 starting a worker (task queues ingest and imaging)...');
      const workers = await startIngestWorkers({ config });
      const client = await createTemporalClient(config);
      let finished: { runId: string; workItems: number } | undefined;
      try {
        const runId = newRunId();
        say(`4/5 ingesting every institution and source (run ${runId})...`);
        await startIngestRun(client, {
          endpoint: server.url,
          runId,
          institutions: groundTruth.institutions,
          ...(fhirServer ? { fhirServerUrl: config.fhir.url } : {}),
        });
        let last = '';
        const result = await waitForRun(client, runId, (p) => {
          const line = progressLine(p);
          if (line !== last) say(`    ${line}`);
          last = line;
        });
        say(
          '5/5 reconciliation (in = published + quarantined + rejected; expected = the generator ground truth):',
        );
        if (!result.progress)
          throw new TributaryError(`run ${runId} ended ${result.state} without progress`, {
            code: 'processing',
          });
        const table = formatReconciliation(result.progress, groundTruth);
        say(table.text);
        for (const s of result.progress.sources.filter((x) => x.status === 'failed'))
          say(`failed: ${s.institution}/${s.source}: ${s.error}`);
        say('');
        say(
          `run ${runId}: ${result.state}; reconciliation ${table.balanced ? 'balanced' : 'NOT balanced'}; ground truth ${table.matchesTruth ? 'matches' : 'DOES NOT match'}`,
        );
        const risk = formatReleaseRisk(result.progress);
        if (risk) say(risk);
        say(`outputs (FHIR Bulk NDJSON + manifest.json, de-identified DICOM): ${result.progress.outputDir}`);
        if (fhirServer)
          say(
            `FHIR server: ${config.fhir.url} holds every published resource (e.g. ${config.fhir.url}/Patient?_count=5)`,
          );
        say(
          `quarantine and staging (encrypted): ${path.join(config.paths.data, 'staging')}; why records were quarantined or rejected: npx tributary ingest quarantine ${runId}`,
        );
        say(
          `Temporal UI: http://127.0.0.1:${config.temporal.uiPort}/namespaces/${config.temporal.namespace}/workflows/${encodeURIComponent(ingestRunWorkflowId(runId))}`,
        );
        if (result.state !== 'completed' || !table.balanced) process.exitCode = 1;
        finished = { runId, workItems: result.progress.totals.workItems };
      } finally {
        await workers.shutdown();
        await client.connection.close();
        await server.close();
      }
      // After the worker let go of the queue store (embedded PGlite has one process at a time): what annotators see.
      if (finished) {
        say(await describeQueues(config, finished.workItems));
        say(`status again later: npx tributary ingest status ${finished.runId}`);
      }
    });
}
