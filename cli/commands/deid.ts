import type { Command } from 'commander';
import { NotSupportedError } from '../../platform/errors';
import { registerDeidDicom } from './deid-dicom';

export function registerDeid(program: Command): void {
  const deid = program.command('deid').description('de-identify FHIR, free text and DICOM');
  deid
    .command('fhir')
    .description('(not built yet)')
    .allowUnknownOption()
    .action(() => {
      throw new NotSupportedError('`tributary deid fhir` is not built yet');
    });
  registerDeidDicom(deid);
}
