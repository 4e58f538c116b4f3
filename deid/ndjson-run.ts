import fs from 'node:fs';
import path from 'node:path';
import type { FhirResource } from '../mappers/types';
import { TributaryError } from '../platform/errors';
import type { KeyService } from './key-service';
import { forEachLineSync, readLineAt } from '../platform/read-lines';
import { createDeidEngine, indexPatient } from './index';
import { suppressQuasiIdentifiers } from './risk';
import { agesGivenBy, suppressAgeValues } from './ages';
import type { Policy } from './policy';
import type { DeidReport, KAnonymityReport, ProfileName } from './types';

/**
 * De-identify NDJSON files: the same file names under `outDir`, `quarantine/<file>` for a file with something
 * quarantined (one line per quarantined input line: line number, rule, JSON path, reason; never the record),
 * `deid-provenance.ndjson`, and `deid-report.json`.
 * Patients are found first in every file so references resolve across files (one linkage per patient).
 */
export interface NdjsonRunOptions {
  inPath: string;
  outDir: string;
  profile: ProfileName;
  policy?: Policy;
  keyService: KeyService;
  institution: string;
  /** Suppress quasi-identifiers of Patients in classes below k. */
  suppress?: boolean;
  batchSize?: number;
}

export interface NdjsonRunReport {
  profile: string;
  policy: { name: string; version: string };
  keyId: string;
  institution: string;
  /**
   * Per file and in all: lines = out + quarantined + issueReports. An OperationOutcome (tributary map's issues.ndjson,
   * a Bulk export's error file) reports on a source; it is no record to release, so it is counted, not written.
   */
  files: { file: string; lines: number; out: number; quarantined: number; issueReports: number }[];
  totals: { lines: number; out: number; quarantined: number; issueReports: number };
  ruleCounts: Record<string, number>;
  textFindings: Record<string, number>;
  quarantined: {
    file: string;
    line: number;
    resourceType: string;
    rule: string;
    path: string;
    reason: string;
  }[];
  risk?: KAnonymityReport;
}

function listInputs(inPath: string): string[] {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(inPath);
  } catch {
    throw new TributaryError(`input ${inPath} does not exist`, {
      code: 'not-found',
      location: inPath,
      nonRetryable: true,
    });
  }
  if (stat.isFile()) return [inPath];
  const files = fs
    .readdirSync(inPath)
    .filter((f) => f.endsWith('.ndjson'))
    .sort()
    .map((f) => path.join(inPath, f));
  if (!files.length)
    throw new TributaryError(`no .ndjson files in ${inPath}`, {
      code: 'not-found',
      location: inPath,
      nonRetryable: true,
    });
  return files;
}

/**
 * The run's own Provenance (one per batch, naming policy and key). Not `Provenance.ndjson`, which a Bulk export or
 * `tributary map` writes for the input's own Provenances; nor `provenance.ndjson`, the same file on macOS and Windows.
 */
export const DEID_PROVENANCE_FILE = 'deid-provenance.ndjson';

/** An input named like the run's own output (compared as a case-insensitive file system does) would be overwritten. */
function refuseOutputNames(inputs: readonly string[]): void {
  for (const input of inputs) {
    const name = path.basename(input);
    if (name.toLowerCase() === DEID_PROVENANCE_FILE)
      throw new TributaryError(
        `input file ${name} has the name of this run's own Provenance output; rename it`,
        {
          code: 'invalid',
          location: input,
          nonRetryable: true,
        },
      );
  }
}

/** Where a Patient's line is, to read it again when a resource in another batch refers to it. */
interface PatientLine {
  linkage: string;
  file: number;
  start: number;
  bytes: number;
}

/** Parsed Patients kept at once (see patientFor): starts over when full, like the key service's caches. */
const PATIENT_CACHE_ENTRIES = 4096;

/**
 * A line that can hold a Patient: any JSON spelling of `"resourceType":"Patient"` has `"Patient"` in it, except one
 * written with \u escapes; such a Patient still de-identifies in its own batch, and resources elsewhere that refer to
 * it are quarantined as unresolved (never published unlinked).
 */
function mayHoldPatient(text: string): boolean {
  return text.includes('"Patient"');
}

export interface NdjsonProgress {
  /** The file being read. */
  file: string;
  /** Lines read so far, every file's. */
  lines: number;
  bytesDone: number;
  bytesTotal: number;
}

/**
 * The files are streamed twice, a line at a time, so memory does not grow with the input: first to find every
 * Patient (kept as its linkage and where its line is, not as the record), then to de-identify a batch at a time,
 * each output written as it comes. Output files are written as `<name>.partial` and renamed when the run is done;
 * suppression (k-anonymity) rewrites the files that hold a Patient to suppress on that last step.
 */
export function deidentifyNdjson(
  options: NdjsonRunOptions & {
    /** Called after every batch. */
    onProgress?: (p: NdjsonProgress) => void;
    /** Read size, for tests that split lines and characters across reads. */
    chunkBytes?: number;
  },
): NdjsonRunReport {
  const engine = createDeidEngine({
    profile: options.profile,
    policy: options.policy,
    keyService: options.keyService,
  });
  const inputs = listInputs(options.inPath);
  refuseOutputNames(inputs);
  const read = { chunkBytes: options.chunkBytes };
  const bytesTotal = inputs.reduce((a, f) => a + fs.statSync(f).size, 0);

  // Pass 1: every Patient, so resources in other files link to the same pseudonym and date offset.
  const patients = new Map<string, PatientLine>();
  inputs.forEach((file, fileIndex) => {
    forEachLineSync(
      file,
      (text, _lineNo, start, bytes) => {
        if (!mayHoldPatient(text)) return;
        let r: FhirResource;
        try {
          r = JSON.parse(text) as FhirResource;
        } catch {
          return; // quarantined as malformed in pass 2
        }
        if (!r || typeof r !== 'object' || r.resourceType !== 'Patient' || typeof r.id !== 'string') return;
        let linkage: string;
        try {
          linkage = engine.linkageOf(r, options.institution);
        } catch {
          return; // unlinkable: quarantined with its reason when processed
        }
        indexPatient(patients, r.id, { linkage, file: fileIndex, start, bytes });
      },
      read,
    );
  });

  const fds = new Map<number, number>();
  const parsedPatients = new Map<string, FhirResource | undefined>();
  const patientFor = (ref: string): FhirResource | undefined => {
    if (parsedPatients.has(ref)) return parsedPatients.get(ref);
    const at = patients.get(ref);
    let patient: FhirResource | undefined;
    if (at) {
      let fd = fds.get(at.file);
      if (fd === undefined) fds.set(at.file, (fd = fs.openSync(inputs[at.file], 'r')));
      patient = JSON.parse(readLineAt(fd, at.start, at.bytes)) as FhirResource;
    }
    if (parsedPatients.size >= PATIENT_CACHE_ENTRIES) parsedPatients.clear();
    parsedPatients.set(ref, patient);
    return patient;
  };
  const batchContext = {
    institution: options.institution,
    linkageFor: (ref: string) => patients.get(ref)?.linkage,
    patientFor,
  };

  fs.mkdirSync(path.join(options.outDir, 'quarantine'), { recursive: true });
  const report: NdjsonRunReport = {
    profile: options.profile,
    policy: { name: engine.policy.name, version: engine.policy.version },
    keyId: options.keyService.keyId,
    institution: options.institution,
    files: [],
    totals: { lines: 0, out: 0, quarantined: 0, issueReports: 0 },
    ruleCounts: {},
    textFindings: {},
    quarantined: [],
  };
  const merge = (into: Record<string, number>, from: Record<string, number>) => {
    for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
  };
  const batchSize = options.batchSize ?? 1000;
  const suppress = options.suppress ?? engine.suppressesRisk;
  const risk = engine.riskTally();
  /**
   * Per output file: the output line numbers of its Patients and age Observations and whose they are (only when
   * suppressing): what loses its quasi-identifiers when that person's class is below k.
   */
  const patientClasses = new Map<string, { outLine: number; member: string }[]>();
  const partial = (file: string) => path.join(options.outDir, `${file}.partial`);
  const provenanceFd = fs.openSync(partial(DEID_PROVENANCE_FILE), 'w');
  let bytesBefore = 0;

  try {
    for (const input of inputs) {
      const file = path.basename(input);
      const size = fs.statSync(input).size;
      const outFd = fs.openSync(partial(file), 'w');
      const quarantineFd = fs.openSync(path.join(options.outDir, 'quarantine', file), 'w');
      const counts = { file, lines: 0, out: 0, quarantined: 0, issueReports: 0 };
      const classes: { outLine: number; member: string }[] = [];
      const q = (line: number, resourceType: string, rule: string, p: string, reason: string) => {
        report.quarantined.push({ file, line, resourceType, rule, path: p, reason });
        fs.writeSync(quarantineFd, JSON.stringify({ line, resourceType, rule, path: p, reason }) + '\n');
        counts.quarantined++;
      };
      let batch: { line: number; resource: FhirResource }[] = [];
      let bytesRead = 0;
      const flush = () => {
        if (batch.length) deidentifyBatch();
        options.onProgress?.({
          file,
          lines: report.totals.lines + counts.lines,
          bytesDone: bytesBefore + bytesRead,
          bytesTotal,
        });
      };
      const deidentifyBatch = () => {
        const result = engine.deidentifyResources(
          batch.map((b) => b.resource),
          batchContext,
        );
        let text = '';
        for (const r of result.outputs) {
          if (r.resourceType === 'Patient') {
            const member = risk.add(r);
            if (suppress) classes.push({ outLine: counts.out, member });
          } else if (r.resourceType === 'Observation') {
            const ages = agesGivenBy(r);
            const subject = (r.subject as { reference?: unknown } | undefined)?.reference;
            if (ages.length && typeof subject === 'string') {
              for (const years of ages) risk.addAge(subject, years);
              if (suppress) classes.push({ outLine: counts.out, member: subject });
            }
          }
          text += JSON.stringify(r) + '\n';
          counts.out++;
        }
        fs.writeSync(outFd, text);
        if (result.provenance) fs.writeSync(provenanceFd, JSON.stringify(result.provenance) + '\n');
        for (const e of result.quarantined)
          q(batch[e.index ?? 0]?.line ?? 0, e.resourceType, e.rule, e.path, e.reason);
        merge(report.ruleCounts, result.report.ruleCounts);
        merge(report.textFindings, result.report.textFindings);
        batch = [];
      };
      try {
        forEachLineSync(
          input,
          (text, line, start, bytes) => {
            bytesRead = start + bytes;
            if (!text.trim()) return;
            counts.lines++;
            let resource: FhirResource;
            try {
              resource = JSON.parse(text) as FhirResource;
            } catch {
              q(line, '(unknown)', 'input.malformed', '(line)', 'not valid JSON');
              return;
            }
            if (resource?.resourceType === 'OperationOutcome') {
              counts.issueReports++;
              return;
            }
            batch.push({ line, resource });
            if (batch.length >= batchSize) flush();
          },
          read,
        );
        bytesRead = size;
        flush();
      } finally {
        fs.closeSync(outFd);
        fs.closeSync(quarantineFd);
      }
      // quarantine/ lists the files that had something quarantined (a re-run clears an earlier run's file).
      if (counts.quarantined === 0) fs.rmSync(path.join(options.outDir, 'quarantine', file), { force: true });
      bytesBefore += size;
      if (classes.length) patientClasses.set(file, classes);
      report.files.push(counts);
      report.totals.lines += counts.lines;
      report.totals.out += counts.out;
      report.totals.quarantined += counts.quarantined;
      report.totals.issueReports += counts.issueReports;
    }
  } finally {
    fs.closeSync(provenanceFd);
    for (const fd of fds.values()) fs.closeSync(fd);
  }

  let suppressed = 0;
  for (const { file } of report.files) {
    const classes = patientClasses.get(file);
    const below = classes?.filter((c) => risk.isBelowThreshold(c.member)).map((c) => c.outLine);
    if (below?.length)
      suppressed += suppressLines(partial(file), path.join(options.outDir, file), new Set(below));
    else fs.renameSync(partial(file), path.join(options.outDir, file));
  }
  report.risk = risk.report(suppressed);
  fs.renameSync(partial(DEID_PROVENANCE_FILE), path.join(options.outDir, DEID_PROVENANCE_FILE));
  fs.writeFileSync(path.join(options.outDir, 'deid-report.json'), JSON.stringify(report, null, 2) + '\n');
  return report;
}

/**
 * Copy `from` to `to`, suppressing the quasi-identifiers of the Patients and the values of the age Observations on
 * the given lines (0-based); returns how many Patients.
 */
function suppressLines(from: string, to: string, lines: ReadonlySet<number>): number {
  const fd = fs.openSync(to, 'w');
  let suppressed = 0;
  let text = '';
  try {
    forEachLineSync(from, (line, lineNo) => {
      if (lines.has(lineNo - 1)) {
        const resource = JSON.parse(line) as FhirResource;
        if (resource.resourceType === 'Patient') {
          suppressQuasiIdentifiers(resource);
          suppressed++;
        } else suppressAgeValues(resource);
        line = JSON.stringify(resource);
      }
      text += line + '\n';
      if (text.length >= 1 << 20) {
        fs.writeSync(fd, text);
        text = '';
      }
    });
    fs.writeSync(fd, text);
  } finally {
    fs.closeSync(fd);
  }
  fs.rmSync(from);
  return suppressed;
}

export type { DeidReport };
