import { Command, CommanderError } from 'commander';
import { TributaryError, toError } from '../platform/errors';
import { registerStack } from './commands/stack';
import { registerSynth } from './commands/synth';
import { registerMap } from './commands/map';
import { registerDeid } from './commands/deid';
import { registerImages } from './commands/images';
import { registerIngest } from './commands/ingest';
import { registerIntake } from './commands/intake';
import { registerWorker } from './commands/worker';
import { registerQueues } from './commands/queues';
import { registerDemo } from './commands/demo';

export function buildProgram(): Command {
  const program = new Command('tributary')
    .description(
      'Tributary: ingest clinical data from many institutions, standardize it to FHIR R4, de-identify it, ' +
        'clean images, and route de-identified work items to annotation queues. Orchestrated by Temporal.',
    )
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      `
Start here:
  npx tributary demo                 the whole pipeline on local defaults (stack, 18 synthetic institutions, ingest)
  npx tributary stack up|status      start or inspect the local Temporal, Kafka, Orthanc and PostgreSQL
  npx tributary <command> --help     what each command does, with examples

Configuration comes from the environment (TEMPORAL_ADDRESS, KAFKA_BROKERS, DATABASE_URL, ORTHANC_URL,
TRIBUTARY_CODEC_KEY, TRIBUTARY_DEID_KEY, ...); see README.md.`,
    );
  program.exitOverride();
  registerDemo(program);
  registerStack(program);
  registerSynth(program);
  registerMap(program);
  registerDeid(program);
  registerImages(program);
  registerIngest(program);
  registerIntake(program);
  registerWorker(program);
  registerQueues(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode;
      return;
    }
    const err = toError(e);
    process.stderr.write(`tributary: ${err.message}\n`);
    process.exitCode = err instanceof TributaryError && err.code === 'not-supported' ? 2 : 1;
  }
}
