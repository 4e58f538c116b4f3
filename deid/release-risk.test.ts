import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TributaryError } from '../platform/errors';
import { createReleaseRiskTally, PSEUDONYM_SYSTEM } from './index';
import { assessCumulativeRelease } from './release-risk';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'release-risk-'));
const patient = (id: string, birthDate: string) =>
  JSON.stringify({
    resourceType: 'Patient',
    id,
    gender: 'female',
    birthDate,
    address: [{ state: 'CA', postalCode: '941' }],
  });
const write = (file: string, lines: string[]) => {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, lines.join('\n') + '\n');
};
const runA = path.join(tmp, 'run-a');
const runB = path.join(tmp, 'run-b');
const tally = () =>
  createReleaseRiskTally({ profile: 'safe-harbor', k: 2, referenceDate: new Date('2026-01-01T00:00:00Z') });

beforeAll(() => {
  // Run a: three women of one age band and region. Run b, a later incremental run: p2 again, corrected to another
  // age band, and a new p4 in the first class; other resource types beside them.
  write(path.join(runA, 'fhir', 'Patient.inst-a.ehr.p1.ndjson'), [
    patient('p1', '1980-02-01'),
    patient('p2', '1980-03-01'),
    patient('p3', '1980-04-01'),
  ]);
  write(path.join(runB, 'fhir', 'Patient.inst-a.ehr.p9.ndjson'), [
    patient('p2', '1950-03-01'),
    JSON.stringify({ resourceType: 'Provenance', id: 'x' }),
    patient('p4', '1980-05-01'),
  ]);
  write(path.join(runB, 'fhir', 'Observation.inst-a.ehr.p9.ndjson'), ['not even JSON']);
  // Withheld from the release: never counted.
  write(path.join(runB, 'quarantine', 'Patient.inst-a.ehr.p9.ndjson'), [patient('p5', '1930-01-01')]);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('assessCumulativeRelease', () => {
  it('counts each Patient once, as the last input has it, over every run of the release', async () => {
    const { report, files } = await assessCumulativeRelease([runA, runB], tally());
    expect(files).toBe(2);
    // p1, p3, p4 together; p2 (as run b corrected it) alone.
    expect(report).toMatchObject({
      records: 4,
      classes: 2,
      smallestClass: 1,
      recordsBelowThreshold: 1,
      threshold: 2,
    });
    // In the other order run a's p2 is the one kept: one class of four.
    const reversed = await assessCumulativeRelease([runB, runA], tally());
    expect(reversed.report).toMatchObject({
      records: 4,
      classes: 1,
      smallestClass: 4,
      recordsBelowThreshold: 0,
    });
  });

  it('counts a person once across institutions (one pseudonym, a Patient id at each) and across the id change', async () => {
    const linked = (id: string, pseudonym: string, birthDate: string) =>
      JSON.stringify({
        ...(JSON.parse(patient(id, birthDate)) as object),
        identifier: [{ system: PSEUDONYM_SYSTEM, value: pseudonym }],
      });
    const dir = path.join(tmp, 'linked');
    write(path.join(dir, 'new', 'fhir', 'Patient.inst-a.ehr.p1.ndjson'), [
      linked('a1b2c3d4e5f60718', 'PAAAAAAAAAAAAAAA', '1980-02-01'),
      linked('0f1e2d3c4b5a6978', 'PBBBBBBBBBBBBBBB', '1980-03-01'),
    ]);
    write(path.join(dir, 'new', 'fhir', 'Patient.inst-b.ehr.p1.ndjson'), [
      linked('9a8b7c6d5e4f3021', 'PAAAAAAAAAAAAAAA', '1980-02-01'),
    ]);
    // A release made before Patient ids were scoped: the id is the pseudonym, no identifier carries it.
    write(path.join(dir, 'old', 'fhir', 'Patient.inst-a.ehr.p1.ndjson'), [
      patient('PBBBBBBBBBBBBBBB', '1980-03-01'),
    ]);
    const { report } = await assessCumulativeRelease([path.join(dir, 'old'), path.join(dir, 'new')], tally());
    expect(report).toMatchObject({ records: 2, classes: 1, smallestClass: 2 });
  });

  it('names a broken line by file and line, and a missing input by path', async () => {
    const broken = path.join(tmp, 'broken', 'Patient.ndjson');
    write(broken, [patient('p1', '1980-02-01'), '{"resourceType":"Patient","name":[{"family":"Wong"']);
    const e = await assessCumulativeRelease([broken], tally()).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(TributaryError);
    expect((e as TributaryError).message).toMatch(/Patient\.ndjson: line 2 is not JSON$/);
    expect((e as TributaryError).message).not.toContain('Wong');
    const missing = await assessCumulativeRelease([path.join(tmp, 'nope')], tally()).catch(
      (err: unknown) => err,
    );
    expect((missing as TributaryError).code).toBe('not-found');
  });
});
