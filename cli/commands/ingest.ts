import type { Command } from 'commander';
import { NotSupportedError } from '../../platform/errors';

export function registerIngest(program: Command): void {
  program
    .command('ingest')
    .description('(not built yet)')
    .allowUnknownOption()
    .action(() => {
      throw new NotSupportedError('`tributary ingest` is not built yet');
    });
}
