import type { Command } from 'commander';
import { NotSupportedError } from '../../platform/errors';

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('(not built yet)')
    .allowUnknownOption()
    .action(() => {
      throw new NotSupportedError('`tributary worker` is not built yet');
    });
}
