import type { Command } from 'commander';
import { NotSupportedError } from '../../platform/errors';

export function registerSynth(program: Command): void {
  program
    .command('synth')
    .description('(not built yet)')
    .allowUnknownOption()
    .action(() => {
      throw new NotSupportedError('`tributary synth` is not built yet');
    });
}
