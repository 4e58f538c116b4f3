import fs from 'node:fs/promises';
import path from 'node:path';
import type { FhirResource } from '../mappers/types';
import { TributaryError } from '../platform/errors';
import { forEachLine } from '../platform/read-lines';
import { pseudonymOf } from './key-service';
import { agesGivenBy, mayGiveAge } from './ages';
import type { RiskTally } from './risk';
import type { KAnonymityReport } from './types';

/** An NDJSON file's resources, one at a time; a line that is not JSON stops, named by file and line, never by value. */
async function forEachResource(
  file: string,
  where: string,
  accept: (text: string) => boolean,
  fn: (resource: FhirResource, lineNo: number) => void,
): Promise<void> {
  await forEachLine(file, (text, lineNo) => {
    if (!text || !accept(text)) return;
    let resource: FhirResource;
    try {
      resource = JSON.parse(text) as FhirResource;
    } catch {
      throw new TributaryError(`${where}: line ${lineNo} is not JSON`, {
        code: 'structure',
        location: `${where}:line ${lineNo}`,
        nonRetryable: true,
      });
    }
    fn(resource, lineNo);
  });
}

/**
 * Tally the Patients of one NDJSON file. A person already in `seen` (by the pseudonym their Patients carry, else by
 * Patient id) is not counted again: a release counts each person once however many pages, runs or institutions
 * carried them (a class counted twice reports a k it does not have). `persons` learns whose each Patient reference
 * is, for tallyAgeFile. Lines that are not Patients are skipped.
 */
export async function tallyPatientFile(
  file: string,
  where: string,
  tally: RiskTally,
  seen: Set<string>,
  persons?: Map<string, string>,
): Promise<void> {
  await forEachResource(
    file,
    where,
    () => true,
    (resource, lineNo) => {
      if (resource?.resourceType !== 'Patient') return;
      // Releases made before Patient ids were scoped by institution have no pseudonym identifier: their id is the
      // pseudonym, so a person in an old and a new release still counts once.
      const person =
        pseudonymOf(resource) ?? (typeof resource.id === 'string' ? resource.id : `${where}:line ${lineNo}`);
      if (typeof resource.id === 'string') persons?.set(`Patient/${resource.id}`, person);
      if (seen.has(person)) return;
      seen.add(person);
      tally.add(resource, person);
    },
  );
}

/**
 * Tally the ages an NDJSON file's Observations give (a release without birth dates: a check-up export), each for
 * the person whose Patient it references; Observations of Patients the release does not hold are not counted.
 */
export async function tallyAgeFile(
  file: string,
  where: string,
  tally: RiskTally,
  persons: ReadonlyMap<string, string>,
): Promise<void> {
  await forEachResource(file, where, mayGiveAge, (resource) => {
    const subject = (resource.subject as { reference?: unknown } | undefined)?.reference;
    const person = typeof subject === 'string' ? persons.get(subject) : undefined;
    if (person === undefined) return;
    for (const years of agesGivenBy(resource)) tally.addAge(person, years);
  });
}

/**
 * The files of an input holding a resource type: a file itself (for Patients), or a folder's `<Type>*.ndjson` files
 * at any depth, in path order; never a `quarantine` folder's (withheld from the release, and holding resources as
 * they arrived).
 */
async function filesOf(input: string, resourceType: 'Patient' | 'Observation'): Promise<string[]> {
  const stat = await fs.stat(input).catch(() => undefined);
  if (!stat)
    throw new TributaryError(`${input}: no such file or folder`, {
      code: 'not-found',
      location: input,
      nonRetryable: true,
    });
  if (stat.isFile()) return resourceType === 'Patient' ? [input] : [];
  const entries = await fs.readdir(input, { recursive: true, withFileTypes: true });
  return entries
    .filter(
      (e) =>
        e.isFile() &&
        new RegExp(`^${resourceType}\\b.*\\.ndjson$`).test(e.name) &&
        !path.relative(input, e.parentPath).split(path.sep).includes('quarantine'),
    )
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

/**
 * The k-anonymity of a cumulative release: the Patients of several published outputs (run folders, Bulk exports)
 * taken together, as a study that received them all holds them. A person in more than one input is counted once,
 * as the last input has them (later runs carry the newer record).
 */
export async function assessCumulativeRelease(
  inputs: readonly string[],
  tally: RiskTally,
): Promise<{ report: KAnonymityReport; files: number }> {
  const seen = new Set<string>();
  const persons = new Map<string, string>();
  let files = 0;
  for (const input of [...inputs].reverse()) {
    // Within one input the files are pages of one release: order does not matter there.
    for (const file of await filesOf(input, 'Patient')) {
      await tallyPatientFile(file, path.relative(process.cwd(), file) || file, tally, seen, persons);
      files++;
    }
  }
  for (const input of inputs)
    for (const file of await filesOf(input, 'Observation'))
      await tallyAgeFile(file, path.relative(process.cwd(), file) || file, tally, persons);
  return { report: tally.report(0), files };
}
