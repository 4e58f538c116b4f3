import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../../platform/config';
import { TributaryError } from '../../platform/errors';
import type { SmartClientRegistration } from '../../synth/smart-server';

function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1)
      throw new TributaryError(`${name} must be a positive integer`, {
        code: 'invalid',
        location: name,
        nonRetryable: true,
      });
    return n;
  };
}

function share(v: string): number {
  const n = Number(v);
  if (!(n >= 0 && n <= 1))
    throw new TributaryError('--malformed-share must be between 0 and 1', {
      code: 'invalid',
      location: '--malformed-share',
      nonRetryable: true,
    });
  return n;
}

const mb = (bytes: number) => `${(bytes / 1_048_576).toFixed(1)} MiB`;

export function registerSynth(program: Command): void {
  const synth = program
    .command('synth')
    .description(
      'synthetic institutions: generate them, serve them like hospitals do, push their feeds to Kafka',
    )
    .addHelpText(
      'after',
      '\nThe output layout and the non-standard formats are described in synth/FORMATS.md.',
    );

  synth
    .command('generate', { isDefault: true })
    .description(
      'generate N patients at each of the first K institutions (deterministic per seed) and ground-truth.json',
    )
    .option(
      '--institutions <k>',
      'how many institutions of the registry (first K)',
      positiveInt('--institutions'),
      18,
    )
    .option('--patients <n>', 'patients per institution', positiveInt('--patients'), 20)
    .option('--seed <s>', 'seed: same seed and options give byte-identical output', 'tributary')
    .option('--out <dir>', 'output folder (default: <data dir>/synth)')
    .option(
      '--overlap <share>',
      'share of patients who also attend another institution of the same locale',
      share,
      0.2,
    )
    .option('--force', 'replace an earlier synth output in --out')
    .addHelpText(
      'after',
      '\nExamples:\n  npx tributary synth --patients 20 --seed demo --out data/synth\n  npx tributary synth --institutions 18 --patients 1000 --seed s1 --out /tmp/synth-1000 --force',
    )
    .action(
      async (opts: {
        institutions: number;
        patients: number;
        seed: string;
        out?: string;
        overlap: number;
        force?: boolean;
      }) => {
        const { generateSynth } = await import('../../synth/generate');
        const out = path.resolve(opts.out ?? path.join(loadConfig().paths.data, 'synth'));
        const started = performance.now();
        const r = generateSynth({
          out,
          seed: opts.seed,
          patients: opts.patients,
          institutions: opts.institutions,
          overlapShare: opts.overlap,
          force: opts.force,
        });
        const seconds = (performance.now() - started) / 1000;
        const linked = r.groundTruth.persons.filter((p) => p.attends.length > 1).length;
        process.stdout.write(
          `synth: ${r.groundTruth.institutions.length} institutions x ${opts.patients} patients -> ${out}\n` +
            `  ${r.files} files, ${mb(r.bytes)} in ${seconds.toFixed(1)}s\n` +
            `  ${r.groundTruth.persons.length} persons (${linked} at 2-3 institutions), ${r.groundTruth.planted.length} planted values, ` +
            `${r.groundTruth.malformedRecords.length} malformed records\n`,
        );
      },
    );

  synth
    .command('verify')
    .description(
      'check a synth output: every planted value where ground-truth.json says, every expected count',
    )
    .requiredOption('--dir <dir>', 'a synth output folder')
    .action(async (opts: { dir: string }) => {
      const { verifySynthOutput } = await import('../../synth/verify');
      const r = verifySynthOutput(path.resolve(opts.dir));
      process.stdout.write(
        `verify: ${r.checkedPlanted} planted values checked, ${r.missingPlanted.length} not found; ${r.countMismatches.length} count mismatches\n`,
      );
      for (const m of r.missingPlanted.slice(0, 20))
        process.stdout.write(
          `  not found: planted[${m.index}] ${m.type} at ${m.file} ${m.record} ${m.path}\n`,
        );
      for (const c of r.countMismatches)
        process.stdout.write(
          `  count: ${c.institution} ${c.source} expected ${c.expected}, found ${c.found}\n`,
        );
      if (r.missingPlanted.length || r.countMismatches.length) process.exitCode = 1;
    });

  synth
    .command('serve')
    .description(
      'serve the institutions on loopback: FHIR R4 (search, paging, $export) for FHIR-API hospitals, files for all',
    )
    .requiredOption('--dir <dir>', 'a synth output folder')
    .option('--port <port>', 'port (0 = any free port)', '8090')
    .option('--rate <rps>', 'requests per second per institution before 429 (0 = no limit)', '50')
    .option(
      '--upload-orthanc',
      "first store every study in Orthanc (ORTHANC_URL) with STOW-RS; then each institution's PACS is served at <url>/<inst>/dicom-web/",
    )
    .option(
      '--smart-keys <dir>',
      'require SMART Backend Services tokens on the FHIR APIs; ES384 keys per institution are made (once) in <dir>, with <dir>/institutions.json for TRIBUTARY_INSTITUTIONS',
    )
    .option('--token-lifetime <seconds>', 'SMART access token lifetime', positiveInt('--token-lifetime'), 300)
    .addHelpText(
      'after',
      '\nExamples:\n  npx tributary synth serve --dir data/synth --port 8090 --upload-orthanc\n  npx tributary synth serve --dir data/synth --smart-keys data/smart-keys',
    )
    .action(
      async (opts: {
        dir: string;
        port: string;
        rate: string;
        uploadOrthanc?: boolean;
        smartKeys?: string;
        tokenLifetime: number;
      }) => {
        const dir = path.resolve(opts.dir);
        const orthancUrl = opts.uploadOrthanc ? loadConfig().orthanc.url : undefined;
        if (orthancUrl) {
          const { uploadStudiesToOrthanc } = await import('../../synth/orthanc-upload');
          const r = await uploadStudiesToOrthanc({ dir, orthancUrl });
          process.stdout.write(
            `orthanc: stored ${r.studies} studies, ${r.instances} instances at ${orthancUrl}\n`,
          );
        }
        const { startSynthServer } = await import('../../synth/serve');
        const { readSynthInstitutions } = await import('../../synth/verify');
        let smart: { clients: SmartClientRegistration[]; tokenLifetimeSeconds: number } | undefined;
        let smartRegistry: string | undefined;
        if (opts.smartKeys) {
          const { ensureSmartKeys } = await import('../../synth/smart-keys');
          const keys = ensureSmartKeys(path.resolve(opts.smartKeys), readSynthInstitutions(dir));
          smart = { clients: keys.clients, tokenLifetimeSeconds: opts.tokenLifetime };
          smartRegistry = keys.registryFile;
        }
        const rate = Number(opts.rate);
        const server = await startSynthServer({
          dir,
          port: Number(opts.port),
          host: '127.0.0.1',
          rateLimit: rate > 0 ? { requestsPerSecond: rate, burst: rate * 2 } : false,
          orthancUrl,
          smart,
        });
        process.stdout.write(`synth serve: ${server.url}\n`);
        if (smartRegistry)
          process.stdout.write(
            `  SMART on: FHIR APIs need a bearer token; run the worker with TRIBUTARY_INSTITUTIONS=${smartRegistry}\n`,
          );
        for (const inst of readSynthInstitutions(dir)) {
          process.stdout.write(
            `  ${inst.id.padEnd(20)} ${inst.ehr?.format === 'fhir-api' ? server.baseUrlFor(inst.id) : '(no FHIR API)'}  files: ${server.filesUrlFor(inst.id)}${orthancUrl ? `  dicom-web: ${server.url}/${inst.id}/dicom-web` : ''}\n`,
          );
        }
        await new Promise<void>((resolve) => {
          const stop = () => void server.close().then(resolve);
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
      },
    );

  synth
    .command('push')
    .description('act as the hospitals: push HL7 v2, FHIR, wearable, drug-label and catalog feeds to Kafka')
    .requiredOption('--dir <dir>', 'a synth output folder')
    .option('--kafka <brokers>', 'comma-separated brokers (default: KAFKA_BROKERS)')
    .option(
      '--topic-prefix <prefix>',
      'topics are <prefix>.hl7v2|fhir|wearable|druglabel|insurance',
      'tributary.feeds',
    )
    .option('--rate <n>', 'messages per second (0 = as fast as possible)', '100')
    .option('--malformed-share <share>', 'share of messages sent truncated on purpose', share, 0.02)
    .option('--limit <n>', 'stop after n messages', positiveInt('--limit'))
    .addHelpText(
      'after',
      '\nExample:\n  npx tributary synth push --dir data/synth --kafka 127.0.0.1:19092 --rate 200 --malformed-share 0.05',
    )
    .action(
      async (opts: {
        dir: string;
        kafka?: string;
        topicPrefix: string;
        rate: string;
        malformedShare: number;
        limit?: number;
      }) => {
        const { pushFeeds } = await import('../../synth/push');
        const brokers = (opts.kafka ?? loadConfig().kafka.brokers.join(','))
          .split(',')
          .map((b) => b.trim())
          .filter(Boolean);
        const r = await pushFeeds({
          dir: path.resolve(opts.dir),
          brokers,
          topicPrefix: opts.topicPrefix,
          rate: Number(opts.rate),
          malformedShare: opts.malformedShare,
          limit: opts.limit,
        });
        process.stdout.write(
          `push: ${r.sent} messages (${r.malformed} malformed on purpose) in ${r.seconds.toFixed(1)}s\n`,
        );
        for (const [topic, t] of Object.entries(r.byTopic))
          process.stdout.write(`  ${topic.padEnd(36)} ${t.sent} sent, ${t.malformed} malformed\n`);
      },
    );
}
