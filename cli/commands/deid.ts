import type { Command } from 'commander';
import { NotSupportedError } from '../../platform/errors';

export function registerDeid(program: Command): void {
  program
    .command('deid')
    .description('(not built yet)')
    .allowUnknownOption()
    .action(() => {
      throw new NotSupportedError('`tributary deid` is not built yet');
    });
}
