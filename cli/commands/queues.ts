import type { Command } from 'commander';
import { NotSupportedError } from '../../platform/errors';

export function registerQueues(program: Command): void {
  program
    .command('queues')
    .description('(not built yet)')
    .allowUnknownOption()
    .action(() => {
      throw new NotSupportedError('`tributary queues` is not built yet');
    });
}
