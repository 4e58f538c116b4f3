import type { Command } from 'commander';
import { NotSupportedError } from '../../platform/errors';

export function registerStack(program: Command): void {
  program
    .command('stack')
    .description('(not built yet)')
    .allowUnknownOption()
    .action(() => {
      throw new NotSupportedError('`tributary stack` is not built yet');
    });
}
