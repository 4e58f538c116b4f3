import fs from 'node:fs/promises';
import path from 'node:path';
import { tallyAgeFile, tallyPatientFile } from '../deid/release-risk';
import type { RiskTally } from '../deid/risk';
import type { KAnonymityReport } from '../deid/types';
import { TributaryError } from '../platform/errors';
import { writeFileAtomic } from '../platform/files';

export interface BulkManifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: false;
  output: { type: string; url: string; count: number }[];
  error: { type: string; url: string }[];
}

/** The NDJSON files of a run's `fhir/` folder (of one resource type when given), sorted; none before any is written. */
async function publishedFiles(fhirDir: string, type?: string): Promise<string[]> {
  try {
    return (await fs.readdir(fhirDir))
      .filter((n) => n.endsWith('.ndjson') && (type === undefined || n.startsWith(`${type}.`)))
      .sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    return [];
  }
}

/**
 * The FHIR Bulk Data manifest for a run's output folder: every `fhir/<Type>.*.ndjson` with its resource count,
 * rebuilt from what is on disk, so writing it twice gives the same file list. `onFile` is told each file counted
 * (the activity heartbeats with it).
 */
export async function writeBulkManifest(
  runDir: string,
  options: { transactionTime?: string; onFile?: (done: number) => void } = {},
): Promise<number> {
  const { transactionTime = new Date().toISOString(), onFile } = options;
  const fhirDir = path.join(runDir, 'fhir');
  const names = await publishedFiles(fhirDir);
  const output: BulkManifest['output'] = [];
  for (const name of names) {
    const text = await fs.readFile(path.join(fhirDir, name), 'utf8');
    const count = text.split('\n').filter((l) => l.length > 0).length;
    output.push({ type: name.slice(0, name.indexOf('.')), url: `fhir/${name}`, count });
    onFile?.(output.length);
  }
  const manifest: BulkManifest = {
    transactionTime,
    request: 'tributary ingest',
    requiresAccessToken: false,
    output,
    error: [],
  };
  await writeFileAtomic(path.join(runDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  return output.length;
}

/** The k-anonymity of a run's release, per institution: `risk.json` in the run's folder. */
export interface ReleaseRisk {
  /** Institution id → its Patients' assessment (counts only: never a class's values). */
  institutions: Record<string, KAnonymityReport>;
  /**
   * People published by more than one institution: the same person, linked (by national ID) on purpose. Each
   * institution's Patient has an id of its own and carries the person's pseudonym as an identifier; each
   * institution's assessment counts them, so a study holding several institutions' releases holds fewer people than
   * the sum (`tributary deid risk` over them counts each once). Present when there is any.
   */
  linkedPersons?: number;
}

/**
 * Assess a run's published Patients (`fhir/Patient.<institution>.<source>.<page>.ndjson`), each institution with its
 * own profile's settings (`tallyFor`), and write `risk.json`. A Patient published twice in one run (a page retried
 * under a new name, a Patient in two sources) counts once: a class counted twice would report a k it does not have.
 * Files are streamed, so a release of any size is assessed without holding it.
 */
export async function assessReleaseRisk(
  runDir: string,
  options: {
    institutions: readonly string[];
    tallyFor: (institution: string) => RiskTally;
    onFile?: (done: number) => void;
  },
): Promise<ReleaseRisk> {
  const fhirDir = path.join(runDir, 'fhir');
  const names = await publishedFiles(fhirDir, 'Patient');
  const tallies = new Map<string, { tally: RiskTally; seen: Set<string>; persons: Map<string, string> }>();
  const institutionOf = (name: string, type: string) => {
    const institution = options.institutions.find((i) => name.startsWith(`${type}.${i}.`));
    if (!institution)
      throw new TributaryError(`published file ${name} names no institution of the registry`, {
        code: 'not-found',
        location: `fhir/${name}`,
        nonRetryable: true,
      });
    return institution;
  };
  let done = 0;
  for (const name of names) {
    const institution = institutionOf(name, 'Patient');
    let t = tallies.get(institution);
    if (!t)
      tallies.set(
        institution,
        (t = { tally: options.tallyFor(institution), seen: new Set(), persons: new Map() }),
      );
    await tallyPatientFile(path.join(fhirDir, name), `fhir/${name}`, t.tally, t.seen, t.persons);
    options.onFile?.(++done);
  }
  // Ages the release gives in Observations count where its Patients carry no birth date (see createRiskTally).
  for (const name of await publishedFiles(fhirDir, 'Observation')) {
    const t = tallies.get(institutionOf(name, 'Observation'));
    if (t) await tallyAgeFile(path.join(fhirDir, name), `fhir/${name}`, t.tally, t.persons);
  }
  const risk: ReleaseRisk = { institutions: {} };
  for (const [institution, { tally }] of [...tallies].sort(([a], [b]) => a.localeCompare(b)))
    risk.institutions[institution] = tally.report(0);
  const institutionsOf = new Map<string, number>();
  for (const { seen } of tallies.values())
    for (const id of seen) institutionsOf.set(id, (institutionsOf.get(id) ?? 0) + 1);
  const shared = [...institutionsOf.values()].filter((n) => n > 1).length;
  if (shared) risk.linkedPersons = shared;
  await writeFileAtomic(path.join(runDir, 'risk.json'), JSON.stringify(risk, null, 2) + '\n');
  return risk;
}
