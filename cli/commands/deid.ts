import type { Command } from 'commander';
import { createKeyService, loadDeidKey } from '../../deid/key-service';
import { loadProfile, profileNames, readPolicyFile } from '../../deid/policy';
import { createReleaseRiskTally } from '../../deid/index';
import { deidentifyNdjson } from '../../deid/ndjson-run';
import { assessCumulativeRelease } from '../../deid/release-risk';
import { scrubText } from '../../deid/text-scrubber';
import type { KAnonymityReport, ProfileName } from '../../deid/types';
import { loadConfig } from '../../platform/config';
import { TributaryError } from '../../platform/errors';
import { registerDeidDicom } from './deid-dicom';

/** How often `deid fhir` reports progress on stderr. */
const PROGRESS_EVERY_MS = 5000;

function profileOf(name: string): ProfileName {
  if (!(profileNames as readonly string[]).includes(name)) {
    throw new TributaryError(`--profile must be one of ${profileNames.join(', ')}`, {
      code: 'invalid',
      nonRetryable: true,
    });
  }
  return name as ProfileName;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function registerDeid(program: Command): void {
  const deid = program.command('deid').description('de-identify FHIR, free text and DICOM');
  deid
    .command('fhir')
    .description(
      'de-identify FHIR NDJSON (policy rules on element paths, free text scrubbed, residual-PHI gate, k-anonymity)',
    )
    .requiredOption('--in <path>', 'an NDJSON file or a directory of *.ndjson files')
    .requiredOption(
      '--out <dir>',
      'output directory: same file names, quarantine/, deid-provenance.ndjson, deid-report.json',
    )
    .option('--profile <name>', `built-in profile: ${profileNames.join(', ')}`, 'safe-harbor')
    .option('--policy <file>', 'a policy file (YAML or JSON); `extends: <profile>` builds on a built-in one')
    .option(
      '--key-file <file>',
      'de-identification key file (else TRIBUTARY_DEID_KEY / TRIBUTARY_DEID_KEY_FILE)',
    )
    .option(
      '--institution <id>',
      'institution the data comes from: it scopes output ids, Patients included (a person keeps one pseudonym, ' +
        'the identifier urn:tributary:person-pseudonym, across institutions); linkage without a national ID is ' +
        'institution + MRN',
      'local',
    )
    .option('--suppress', 'suppress quasi-identifiers of patients in classes smaller than the policy k')
    .addHelpText(
      'after',
      `
Examples:
  npx tributary deid fhir --in ../shared/data/fhir/bulk-ndjson-10-patients --out out/fhir --profile safe-harbor --key-file my.key
  npx tributary deid fhir --in export/ --out out/ --profile gbt-37964 --policy config/deid/my-policy.yaml
  npx tributary deid fhir --in labels/ --out out/labels --profile reference-data --key-file my.key
      (drug labels and catalogs: text kept as written, anything about a person quarantined)

Resources that fail the residual-PHI gate, are malformed, or reference an unknown patient go to quarantine/ with
the rule, JSON path and reason (never the value). Exit code 3 when anything was quarantined. OperationOutcome lines
(tributary map's issues.ndjson, a Bulk export's error file) report on the source: counted, not released.
Files are streamed (Bulk exports of any size; memory stays near a few hundred MB); progress goes to stderr every
few seconds, and outputs appear under their names when the run is done (<name>.partial until then).`,
    )
    .action(
      (opts: {
        in: string;
        out: string;
        profile: string;
        policy?: string;
        keyFile?: string;
        institution: string;
        suppress?: boolean;
      }) => {
        const profile = profileOf(opts.profile);
        const policy = opts.policy ? readPolicyFile(opts.policy) : undefined;
        const keyService = createKeyService(loadDeidKey(loadConfig(), { keyFile: opts.keyFile }));
        const started = performance.now();
        let lastProgress = started;
        const report = deidentifyNdjson({
          inPath: opts.in,
          outDir: opts.out,
          profile,
          policy,
          keyService,
          institution: opts.institution,
          suppress: opts.suppress,
          // Long runs say where they are every few seconds (stderr: stdout keeps the one summary line).
          onProgress: (p) => {
            const now = performance.now();
            if (now - lastProgress < PROGRESS_EVERY_MS) return;
            lastProgress = now;
            const mb = (n: number) => (n / 1e6).toFixed(0);
            process.stderr.write(
              `deid fhir: ${Math.floor((100 * p.bytesDone) / p.bytesTotal)}% (${mb(p.bytesDone)} of ${mb(p.bytesTotal)} MB), ` +
                `${p.lines.toLocaleString('en-US')} resources, ${Math.round(p.lines / ((now - started) / 1000)).toLocaleString('en-US')}/s; ${p.file}\n`,
            );
          },
        });
        const t = report.totals;
        process.stdout.write(
          `${t.lines} resources: ${t.out} de-identified, ${t.quarantined} quarantined` +
            (t.issueReports ? `, ${t.issueReports} issue reports (OperationOutcome) not released` : '') +
            `; k=${report.risk?.k ?? '-'}` +
            ` (${report.risk?.recordsBelowThreshold ?? 0} patients below k=${report.risk?.threshold ?? '-'})${unknownNote(report.risk)}; key ${report.keyId}; report: ${opts.out}/deid-report.json\n`,
        );
        if (t.quarantined > 0) process.exitCode = 3;
      },
    );
  deid
    .command('risk')
    .description(
      'k-anonymity of a release made of several outputs (runs of one study, Bulk exports): Patients counted once',
    )
    .requiredOption(
      '--in <path>',
      'a published output: a run folder, a Bulk export folder or a Patient NDJSON file (repeat: oldest first)',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option(
      '--profile <name>',
      `k and quasi-identifiers of a built-in profile: ${profileNames.join(', ')}`,
      'safe-harbor',
    )
    .option('--policy <file>', 'take k and quasi-identifiers from a policy file instead')
    .option('--k <n>', 'the k wanted (default: the policy’s)', (v: string) => {
      const k = Number(v);
      if (!Number.isInteger(k) || k < 1)
        throw new TributaryError('--k must be a whole number of at least 1', {
          code: 'invalid',
          nonRetryable: true,
        });
      return k;
    })
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      `
Each run of an incremental pull is a release of its own (ingest writes its risk.json); a study that received several
holds them together, and its k can be smaller than any run's. This reads every Patient*.ndjson under the inputs,
counts a Patient in more than one input once (as the last input has it), and reports the smallest class and the
patients in classes below k. Counts only, never a class's values. Exit code 3 when patients sit below k.

Examples:
  npx tributary deid risk --in .tributary/output/run-a --in .tributary/output/run-b
  npx tributary deid risk --in export/ --profile gbt-37964 --k 10 --json`,
    )
    .action(async (opts: { in: string[]; profile: string; policy?: string; k?: number; json?: boolean }) => {
      const tally = createReleaseRiskTally({
        profile: profileOf(opts.profile),
        policy: opts.policy ? readPolicyFile(opts.policy) : undefined,
        k: opts.k,
      });
      const { report, files } = await assessCumulativeRelease(opts.in, tally);
      if (opts.json) console.log(JSON.stringify({ ...report, inputs: opts.in.length, files }, null, 2));
      else
        console.log(
          `k-anonymity (${report.quasiIdentifiers.join(', ')}; k=${report.threshold} wanted) over ${report.records} ` +
            `patients in ${files} file(s) of ${opts.in.length} input(s): smallest class ${report.smallestClass}; ` +
            `${report.recordsBelowThreshold} patients in classes below k (${report.classes} classes)${unknownNote(report)}`,
        );
      if (report.recordsBelowThreshold > 0) process.exitCode = 3;
    });

  deid
    .command('text')
    .description('scrub free text (English and Chinese) from stdin to stdout')
    .option('--profile <name>', `built-in profile: ${profileNames.join(', ')}`, 'safe-harbor')
    .option(
      '--key-file <file>',
      'de-identification key file (else TRIBUTARY_DEID_KEY / TRIBUTARY_DEID_KEY_FILE)',
    )
    .option('--tags', 'replace with typed tags ([NAME], [PHONE], [DATE]...) instead of surrogates')
    .addHelpText(
      'after',
      `
Examples:
  echo "Patient: John Smith, MRN 12345678, seen 03/05/2024" | npx tributary deid text --key-file my.key
  npx tributary deid text --profile gbt-37964 --tags < note.txt > note.deid.txt

Without a patient, dates become [DATE] (there is no per-patient offset to shift them by). Findings per type go to stderr.`,
    )
    .action(async (opts: { profile: string; keyFile?: string; tags?: boolean }) => {
      const policy = loadProfile(profileOf(opts.profile));
      if (policy.referenceData)
        throw new TributaryError(
          `deid text: profile ${opts.profile} is for drug labels and catalogs, whose text is kept as written; scrub a note with safe-harbor or gbt-37964`,
          { code: 'invalid', nonRetryable: true },
        );
      const keyService = createKeyService(loadDeidKey(loadConfig(), { keyFile: opts.keyFile }));
      const input = await readStdin();
      const result = scrubText(input, {
        keyService,
        mode: opts.tags ? 'tag' : (policy.text?.mode ?? 'surrogate'),
        locale: /[\u3400-\u9fff]/.test(input) ? 'zh' : 'en',
        keepTypes: policy.text?.keepTypes,
        topAge: policy.generalize?.topAge,
      });
      process.stdout.write(result.text);
      const byType: Record<string, number> = {};
      for (const f of result.findings) byType[f.type] = (byType[f.type] ?? 0) + 1;
      process.stderr.write(`${JSON.stringify({ findings: byType, keyId: keyService.keyId })}\n`);
    });
  registerDeidDicom(deid);
}

/** Quasi-identifiers the release does not give for some people: k is counted without them there, say so. */
function unknownNote(risk: KAnonymityReport | undefined): string {
  const unknown = Object.entries(risk?.unknownQuasiIdentifiers ?? {});
  return unknown.length
    ? `; not in the release for some patients, so not counted: ${unknown.map(([q, n]) => `${q} (${n})`).join(', ')}`
    : '';
}
