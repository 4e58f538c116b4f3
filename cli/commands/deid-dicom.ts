import type { Command } from 'commander';
import { createKeyService, loadDeidKey } from '../../deid/key-service';
import { loadConfig } from '../../platform/config';
import { PIPELINE_DEID_OPTIONS } from '../../imaging/annex-e';
import { loadMaskRules } from '../../imaging/burned-in';
import { loadFrameDecoders } from '../../imaging/codecs';
import { deidentifyDicomFiles, parseOptionNames } from '../../imaging/deid-files';
import { createDescriptorScrubber } from '../../imaging/descriptor-scrubber';

/** `tributary deid dicom`: registered under the `deid` command by cli/commands/deid.ts. */
export function registerDeidDicom(deid: Command): void {
  deid
    .command('dicom')
    .description(
      'de-identify DICOM files (PS3.15 Annex E Basic Profile + options, burned-in text masks, fail closed)',
    )
    .requiredOption('--in <path>', 'a DICOM file or a directory of them (searched recursively)')
    .requiredOption(
      '--out <dir>',
      'output directory: <new SOP Instance UID>.dcm, quarantine/, deid-report.json',
    )
    .option(
      '--option <name...>',
      'Annex E options (repeatable); default: retain-longitudinal-modified clean-descriptors clean-structured-content clean-graphics clean-pixel-data; "basic" alone for the Basic Profile only',
    )
    .option(
      '--institution <id>',
      'institution the files come from (patient linkage is institution + Patient ID)',
      'local',
    )
    .option(
      '--key-file <file>',
      'de-identification key file (else TRIBUTARY_DEID_KEY / TRIBUTARY_DEID_KEY_FILE)',
    )
    .option('--mask-rules <file>', 'burned-in text mask rules (default config/dicom/burned-in-rules.json)')
    .addHelpText(
      'after',
      `
Examples:
  npx tributary deid dicom --in ../shared/data/dicom --out out/dicom --key-file .stack/keys/deid.key
  npx tributary deid dicom --in study/ --out out/ --option retain-longitudinal-full --option retain-uids

Options: retain-longitudinal-full, retain-longitudinal-modified, retain-patient-characteristics, retain-device-identity,
retain-institution-identity, retain-uids, retain-safe-private, clean-descriptors, clean-structured-content,
clean-graphics, clean-pixel-data. Images that may carry burned-in text and cannot be cleaned go to quarantine/.`,
    )
    .action(
      async (opts: {
        in: string;
        out: string;
        option?: string[];
        institution: string;
        keyFile?: string;
        maskRules?: string;
      }) => {
        const config = loadConfig();
        const keyService = createKeyService(loadDeidKey(config, { keyFile: opts.keyFile }));
        const options = opts.option?.length ? parseOptionNames(opts.option) : PIPELINE_DEID_OPTIONS;
        const report = deidentifyDicomFiles({
          decoders: await loadFrameDecoders(),
          inPath: opts.in,
          outDir: opts.out,
          keyService,
          institution: opts.institution,
          options,
          maskRules: opts.maskRules ? loadMaskRules(opts.maskRules) : undefined,
          scrubDescriptor: createDescriptorScrubber(keyService),
        });
        const c = report.counts;
        process.stdout.write(
          `${c.inputs} files: ${c.deidentified} de-identified, ${c.quarantined} quarantined, ${c.skipped} skipped (not DICOM); report: ${opts.out}/deid-report.json\n`,
        );
        if (c.quarantined > 0) process.exitCode = 3;
      },
    );
}
