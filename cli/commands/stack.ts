import type { Command } from 'commander';
import { loadConfig } from '../../platform/config';
import {
  ensureStack,
  parseServiceList,
  stackStatus,
  stopStack,
  type ServiceState,
} from '../../deploy/stack/stack';

function formatState(s: ServiceState): string {
  const where = s.external
    ? `${s.address} (yours: TEMPORAL_ADDRESS/KAFKA_BROKERS/DATABASE_URL/ORTHANC_URL)`
    : s.address;
  const pid = s.pid !== undefined ? `pid ${s.pid}` : s.external ? 'external' : 'not running';
  const health = s.healthy ? 'healthy' : 'DOWN';
  const lines = [`${s.name.padEnd(9)} ${health.padEnd(8)} ${pid.padEnd(12)} ${where}`];
  if (s.detail) lines.push(`${''.padEnd(9)} ${s.detail}`);
  if (s.log && !s.external) lines.push(`${''.padEnd(9)} log ${s.log}`);
  return lines.join('\n');
}

export function registerStack(program: Command): void {
  const stack = program
    .command('stack')
    .description(
      'the local Temporal, Kafka, Orthanc, PostgreSQL and HAPI FHIR server (loopback only; state in .stack/, downloads cached in ~/.cache/tributary)',
    );

  stack
    .command('up')
    .description('install what is missing and start the services that are not running (idempotent)')
    .option('--only <services>', 'comma-separated subset: postgres,temporal,kafka,orthanc,fhir')
    .addHelpText(
      'after',
      '\nExamples:\n  npx tributary stack up\n  npx tributary stack up --only temporal,kafka\n\nServices named by TEMPORAL_ADDRESS, KAFKA_BROKERS, DATABASE_URL, ORTHANC_URL or FHIR_SERVER_URL are used as they are.',
    )
    .action(async (opts: { only?: string }) => {
      const config = loadConfig();
      const started = Date.now();
      const handle = await ensureStack(config, {
        services: opts.only ? parseServiceList(opts.only) : undefined,
        claim: true,
        progress: (m) => process.stderr.write(`stack: ${m}\n`),
      });
      for (const s of Object.values(handle.services)) process.stdout.write(formatState(s) + '\n');
      process.stdout.write(
        `\nready in ${((Date.now() - started) / 1000).toFixed(1)}s; started: ${handle.started.join(', ') || 'nothing (all were running)'}\n`,
      );
    });

  stack
    .command('down')
    .description('stop the local services this stack started (never ones you point at with *_ADDRESS/*_URL)')
    .option('--only <services>', 'comma-separated subset: postgres,temporal,kafka,orthanc,fhir')
    .action(async (opts: { only?: string }) => {
      const stopped = await stopStack(loadConfig(), {
        services: opts.only ? parseServiceList(opts.only) : undefined,
      });
      process.stdout.write(`stopped: ${stopped.join(', ') || 'nothing was running'}\n`);
    });

  stack
    .command('status')
    .description('each service: health, pid, address, log; and the Temporal UI URL')
    .option('--only <services>', 'comma-separated subset to check: postgres,temporal,kafka,orthanc,fhir')
    .addHelpText(
      'after',
      '\nExit code 0 when every service checked is healthy, 3 when one is down. The demo starts the FHIR server only\n' +
        'with --fhir-server, so after a plain demo check what it started:\n' +
        '  npx tributary stack status --only postgres,temporal,kafka,orthanc',
    )
    .action(async (opts: { only?: string }) => {
      const states = await stackStatus(loadConfig(), opts.only ? parseServiceList(opts.only) : undefined);
      for (const s of states) process.stdout.write(formatState(s) + '\n');
      const down = states.filter((s) => !s.healthy).map((s) => s.name);
      process.stdout.write(
        `\n${states.length - down.length} of ${states.length} healthy${down.length ? `; down: ${down.join(', ')}` : ''}\n`,
      );
      if (down.length) process.exitCode = 3;
    });
}
