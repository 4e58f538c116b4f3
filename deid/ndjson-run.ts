import fs from 'node:fs';
import path from 'node:path';
import type { FhirResource } from '../mappers/types';
import { TributaryError } from '../platform/errors';
import type { KeyService } from './key-service';
import { createDeidEngine, indexPatient, type PatientIndex } from './index';
import type { Policy } from './policy';
import type { DeidReport, KAnonymityReport, ProfileName } from './types';

/**
 * De-identify NDJSON files: the same file names under `outDir`, `quarantine/<file>` (one line per quarantined input
 * line: line number, rule, JSON path, reason; never the record), `provenance.ndjson`, and `deid-report.json`.
 * Patients are read first from every file so references resolve across files (one linkage per patient).
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
  files: { file: string; lines: number; out: number; quarantined: number }[];
  totals: { lines: number; out: number; quarantined: number };
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

interface ParsedLine {
  line: number;
  resource?: FhirResource;
  error?: string;
}

function readNdjson(file: string): ParsedLine[] {
  const out: ParsedLine[] = [];
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  lines.forEach((text, i) => {
    if (!text.trim()) return;
    try {
      const v = JSON.parse(text) as unknown;
      out.push({ line: i + 1, resource: v as FhirResource });
    } catch {
      out.push({ line: i + 1, error: 'not valid JSON' });
    }
  });
  return out;
}

export function deidentifyNdjson(options: NdjsonRunOptions): NdjsonRunReport {
  const engine = createDeidEngine({
    profile: options.profile,
    policy: options.policy,
    keyService: options.keyService,
  });
  const inputs = listInputs(options.inPath);
  const parsed = inputs.map((f) => ({ file: path.basename(f), lines: readNdjson(f) }));

  // Pass 1: every Patient, so resources in other files link to the same pseudonym and date offset.
  const patients: PatientIndex = new Map();
  for (const { lines } of parsed) {
    for (const l of lines) {
      const r = l.resource;
      if (r && typeof r === 'object' && r.resourceType === 'Patient' && typeof r.id === 'string') {
        try {
          indexPatient(patients, r.id, r, engine.linkageOf(r, options.institution));
        } catch {
          // unlinkable: quarantined with its reason when processed
        }
      }
    }
  }

  fs.mkdirSync(path.join(options.outDir, 'quarantine'), { recursive: true });
  const report: NdjsonRunReport = {
    profile: options.profile,
    policy: { name: engine.policy.name, version: engine.policy.version },
    keyId: options.keyService.keyId,
    institution: options.institution,
    files: [],
    totals: { lines: 0, out: 0, quarantined: 0 },
    ruleCounts: {},
    textFindings: {},
    quarantined: [],
  };
  const merge = (into: Record<string, number>, from: Record<string, number>) => {
    for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
  };
  const outputs = new Map<string, FhirResource[]>();
  const provenance: FhirResource[] = [];
  const batchSize = options.batchSize ?? 1000;

  for (const { file, lines } of parsed) {
    const fileOut: FhirResource[] = [];
    const quarantineLines: string[] = [];
    const q = (line: number, resourceType: string, rule: string, p: string, reason: string) => {
      report.quarantined.push({ file, line, resourceType, rule, path: p, reason });
      quarantineLines.push(JSON.stringify({ line, resourceType, rule, path: p, reason }));
    };
    for (const l of lines) if (l.error) q(l.line, '(unknown)', 'input.malformed', '(line)', l.error);
    const good = lines.filter((l) => !l.error);
    for (let i = 0; i < good.length; i += batchSize) {
      const batch = good.slice(i, i + batchSize);
      const result = engine.deidentifyResources(
        batch.map((b) => b.resource!),
        {
          institution: options.institution,
          linkageFor: (ref) => patients.get(ref)?.linkage,
          patientFor: (ref) => patients.get(ref)?.raw,
        },
      );
      fileOut.push(...result.outputs);
      if (result.provenance) provenance.push(result.provenance);
      for (const e of result.quarantined)
        q(batch[e.index ?? 0]?.line ?? 0, e.resourceType, e.rule, e.path, e.reason);
      merge(report.ruleCounts, result.report.ruleCounts);
      merge(report.textFindings, result.report.textFindings);
    }
    outputs.set(file, fileOut);
    fs.writeFileSync(
      path.join(options.outDir, 'quarantine', file),
      quarantineLines.map((x) => x + '\n').join(''),
    );
    report.files.push({
      file,
      lines: lines.length,
      out: fileOut.length,
      quarantined: quarantineLines.length,
    });
    report.totals.lines += lines.length;
    report.totals.out += fileOut.length;
    report.totals.quarantined += quarantineLines.length;
  }

  const releasePatients = [...outputs.values()].flat().filter((r) => r.resourceType === 'Patient');
  report.risk = engine.assessRisk(releasePatients, { suppress: options.suppress });

  for (const [file, list] of outputs) {
    fs.writeFileSync(path.join(options.outDir, file), list.map((r) => JSON.stringify(r) + '\n').join(''));
  }
  fs.writeFileSync(
    path.join(options.outDir, 'provenance.ndjson'),
    provenance.map((r) => JSON.stringify(r) + '\n').join(''),
  );
  fs.writeFileSync(path.join(options.outDir, 'deid-report.json'), JSON.stringify(report, null, 2) + '\n');
  return report;
}

export type { DeidReport };
