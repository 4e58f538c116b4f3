import type { Command } from 'commander';
import { NotSupportedError } from '../../platform/errors';

/** `tributary deid dicom`: registered under the `deid` command by cli/commands/deid.ts. */
export function registerDeidDicom(deid: Command): void {
  deid
    .command('dicom')
    .description('(not built yet)')
    .allowUnknownOption()
    .action(() => {
      throw new NotSupportedError('`tributary deid dicom` is not built yet');
    });
}
