import type { Command } from 'commander';
import { NotSupportedError } from '../../platform/errors';

export function registerImages(program: Command): void {
  program
    .command('images')
    .description('(not built yet)')
    .allowUnknownOption()
    .action(() => {
      throw new NotSupportedError('`tributary images` is not built yet');
    });
}
