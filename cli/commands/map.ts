import { createWriteStream, readFileSync, readdirSync, statSync, mkdirSync } from 'node:fs';
import type { WriteStream } from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import type { Command } from 'commander';
import { parseAtEdge } from '../../platform/config';
import { TributaryError } from '../../platform/errors';
import { loadInstitutionRegistry } from '../../platform/institutions';
import { hisCsvMappingSchema } from '../../schemas/his-csv-mapping';
import type { MapContext, MapResult, SourceFormat } from '../../mappers/types';
import { sourceFormats } from '../../mappers/types';

interface MapOptions {
  format: string;
  in: string;
  out: string;
  institution: string;
  timezone?: string;
  subjectMrn?: string;
  mapping?: string;
  sampledData?: boolean;
  window?: string;
  validate: boolean;
}

/** One NDJSON file per resource type plus issues.ndjson, written as batches arrive (Apple Health exports and Bulk FHIR NDJSON run to GBs). */
class OutputWriter {
  private readonly streams = new Map<string, WriteStream>();
  readonly byType = new Map<string, number>();
  readonly issuesBySeverity = new Map<string, number>();
  recordsIn = 0;
  recordsMapped = 0;
  recordsRejected = 0;

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    // issues.ndjson always exists, so an empty one means "no issues" rather than "not run".
    this.stream('issues');
  }

  private stream(name: string): WriteStream {
    let s = this.streams.get(name);
    if (!s) {
      s = createWriteStream(path.join(this.dir, `${name}.ndjson`), { flags: 'w' });
      this.streams.set(name, s);
    }
    return s;
  }

  private async write(name: string, lines: string): Promise<void> {
    const s = this.stream(name);
    if (!s.write(lines)) await once(s, 'drain');
  }

  async add(batch: MapResult): Promise<void> {
    this.recordsIn += batch.recordsIn;
    this.recordsMapped += batch.recordsMapped;
    this.recordsRejected += batch.recordsRejected;
    const grouped = new Map<string, string[]>();
    for (const r of batch.resources) {
      this.byType.set(r.resourceType, (this.byType.get(r.resourceType) ?? 0) + 1);
      const list = grouped.get(r.resourceType) ?? [];
      list.push(JSON.stringify(r));
      grouped.set(r.resourceType, list);
    }
    for (const [type, lines] of grouped) await this.write(type, lines.join('\n') + '\n');
    if (batch.issues.length) {
      for (const i of batch.issues)
        this.issuesBySeverity.set(i.severity, (this.issuesBySeverity.get(i.severity) ?? 0) + 1);
      await this.write(
        'issues',
        batch.issues.map((i) => JSON.stringify({ resourceType: 'OperationOutcome', issue: [i] })).join('\n') +
          '\n',
      );
    }
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.streams.values()].map(
        (s) =>
          new Promise<void>((resolve, reject) => s.end((e?: Error | null) => (e ? reject(e) : resolve()))),
      ),
    );
  }
}

function listInputs(input: string): string[] {
  const st = statSync(input);
  if (st.isFile()) return [input];
  const out: string[] = [];
  for (const name of readdirSync(input).sort()) {
    const p = path.join(input, name);
    if (statSync(p).isDirectory()) out.push(...listInputs(p));
    else if (!name.startsWith('.')) out.push(p);
  }
  return out;
}

export function registerMap(program: Command): void {
  program
    .command('map')
    .description(
      'standardize one source file (or every file under a folder) to FHIR R4: NDJSON per resource type + issues.ndjson',
    )
    .requiredOption('--format <format>', `source format: ${sourceFormats.join('|')}`)
    .requiredOption('--in <path>', 'input file or folder')
    .requiredOption('--out <dir>', 'output folder (files are rewritten: re-runs are idempotent)')
    .requiredOption('--institution <id>', 'institution id (part of every stable id and identifier system)')
    .option(
      '--timezone <tz>',
      'zone for local times without offset (default: the institution registry, else UTC)',
    )
    .option('--subject-mrn <mrn>', 'wearable exports: MRN of the person the export belongs to')
    .option('--mapping <file>', 'his-csv: column mapping file (default: config/his-csv/<institution>.json)')
    .option('--sampled-data', 'wearables: high-frequency series as SampledData instead of windowed summaries')
    .option('--window <seconds>', 'wearables: aggregation window in seconds (default 3600)')
    .option('--no-validate', 'skip FHIR R4 validation of outputs (benchmarks only)')
    .addHelpText(
      'after',
      '\nExamples:\n  npx tributary map --format hl7v2 --in ../shared/data/hl7v2 --out /tmp/map-hl7 --institution sh-ruijin-north\n' +
        '  npx tributary map --format his-csv --in data/synth/bj-union-east/ehr/his --out /tmp/map-his --institution bj-union-east\n' +
        '  npx tributary map --format his-csv --in ../shared/data/cn-ehr/tianchi-diabetes-checkup/d_test_A_20180102.csv --out /tmp/map-tianchi \\\n' +
        '      --mapping config/his-csv/tianchi-diabetes-checkup.json --institution tianchi-diabetes-checkup\n' +
        '  npx tributary map --format apple-health --in export.xml --out /tmp/map-apple --institution gz-zhongshan-1 --subject-mrn ZY0001\n' +
        '  npx tributary map --format fhir --in bulk-export/ --out /tmp/map-fhir --institution riverside-general\n\n' +
        'Apple Health exports and FHIR NDJSON (a Bulk export) are read in pieces: files of any size, in bounded memory.',
    )
    .action(async (opts: MapOptions) => {
      const { indexFhirPatientsInFile, isSourceFormat, mapFile } = await import('../../mappers/index');
      if (!isSourceFormat(opts.format))
        throw new TributaryError(`--format must be one of ${sourceFormats.join(', ')}`, {
          code: 'invalid',
          location: '--format',
          nonRetryable: true,
        });
      const format: SourceFormat = opts.format;
      const window = opts.window === undefined ? undefined : Number(opts.window);
      if (window !== undefined && !(Number.isInteger(window) && window > 0))
        throw new TributaryError('--window must be a positive whole number of seconds', {
          code: 'invalid',
          location: '--window',
          nonRetryable: true,
        });
      const registered = loadInstitutionRegistry().institutions.find((i) => i.id === opts.institution);
      const base: Omit<MapContext, 'sourceFile'> = {
        institution: opts.institution,
        timezone: opts.timezone ?? registered?.timezone ?? 'UTC',
        subjectMrn: opts.subjectMrn,
        sampledData: opts.sampledData === true,
        windowSeconds: window,
        validate: opts.validate,
      };
      if (format === 'his-csv') {
        const file =
          opts.mapping ??
          path.resolve(import.meta.dirname, '../../config/his-csv', `${opts.institution}.json`);
        let raw: unknown;
        try {
          raw = JSON.parse(readFileSync(file, 'utf8'));
        } catch (e) {
          // An institution outside the registry (a public dataset) has no default mapping: say how to give one.
          if (!opts.mapping && (e as NodeJS.ErrnoException).code === 'ENOENT')
            throw new TributaryError(
              `his-csv: no column mapping for institution ${opts.institution}; pass --mapping <file> or add config/his-csv/${opts.institution}.json`,
              { code: 'not-found', location: file, nonRetryable: true },
            );
          throw new TributaryError('his-csv column mapping file cannot be read as JSON', {
            code: 'invalid',
            location: file,
            nonRetryable: true,
          });
        }
        base.columnMapping = parseAtEdge(hisCsvMappingSchema, raw, file);
      }
      const inputs = listInputs(path.resolve(opts.in));
      if (format === 'fhir' || format === 'pdex-formulary') {
        // Patients first: a file read before its Patient's file must still reference the Patient's (MRN-based) id.
        const patientIds = new Map<string, string>();
        for (const file of inputs)
          await indexFhirPatientsInFile(file, { ...base, sourceFile: file, patientIds });
        base.patientIds = patientIds;
      }
      const out = new OutputWriter(path.resolve(opts.out));
      const started = performance.now();
      let bytes = 0;
      try {
        for (const file of inputs) {
          bytes += statSync(file).size;
          const sourceFile = path.relative(
            statSync(opts.in).isDirectory() ? path.resolve(opts.in) : path.dirname(path.resolve(opts.in)),
            file,
          );
          await mapFile(format, file, { ...base, sourceFile }, (b) => out.add(b));
        }
      } finally {
        await out.close();
      }
      const seconds = (performance.now() - started) / 1000;
      const types =
        [...out.byType.entries()]
          .sort()
          .map(([t, n]) => `${t} ${n}`)
          .join(', ') || 'none';
      const issues = [...out.issuesBySeverity.entries()].map(([s, n]) => `${s} ${n}`).join(', ') || 'none';
      process.stdout.write(
        `map ${format}: ${inputs.length} file(s), ${(bytes / 1_048_576).toFixed(1)} MiB in ${seconds.toFixed(1)}s -> ${path.resolve(opts.out)}\n` +
          `  records: ${out.recordsIn} in = ${out.recordsMapped} mapped + ${out.recordsRejected} rejected\n` +
          `  resources: ${types}\n` +
          `  issues: ${issues} (issues.ndjson)\n`,
      );
    });
}
