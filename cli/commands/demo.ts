import type { Command } from 'commander';
import { NotSupportedError } from '../../platform/errors';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('(not built yet)')
    .allowUnknownOption()
    .action(() => {
      throw new NotSupportedError('`tributary demo` is not built yet');
    });
}
