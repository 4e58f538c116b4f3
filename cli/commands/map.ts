import type { Command } from 'commander';
import { NotSupportedError } from '../../platform/errors';

export function registerMap(program: Command): void {
  program
    .command('map')
    .description('(not built yet)')
    .allowUnknownOption()
    .action(() => {
      throw new NotSupportedError('`tributary map` is not built yet');
    });
}
