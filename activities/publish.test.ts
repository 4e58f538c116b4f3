import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PSEUDONYM_SYSTEM } from '../deid/key-service';
import { createRiskTally } from '../deid/risk';
import { assessReleaseRisk } from './publish';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-publish-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const patient = (id: string, birthDate: string, pseudonym?: string) => ({
  resourceType: 'Patient',
  id,
  ...(pseudonym ? { identifier: [{ system: PSEUDONYM_SYSTEM, value: pseudonym }] } : {}),
  gender: 'female',
  birthDate,
  address: [{ state: 'MA', postalCode: '021' }],
});
const ndjson = (rs: object[]) => rs.map((r) => JSON.stringify(r) + '\n').join('');
const tallyFor = (k: number) => () => createRiskTally({ k, quasiIdentifiers: ['age-band', 'sex', 'region'] });

describe('assessReleaseRisk', () => {
  it("assesses each institution's published Patients once, and writes risk.json", async () => {
    const runDir = path.join(tmp, 'run-1');
    fs.mkdirSync(path.join(runDir, 'fhir'), { recursive: true });
    const write = (name: string, rs: object[]) =>
      fs.writeFileSync(path.join(runDir, 'fhir', name), ndjson(rs));
    // inst-a: three alike across two pages, one of them published on both (a retried page); one born decades earlier.
    write('Patient.inst-a.ehr.p1.ndjson', [
      patient('a1', '1980'),
      patient('a2', '1980'),
      patient('old', '1931'),
    ]);
    write('Patient.inst-a.ehr.p2.ndjson', [patient('a2', '1980'), patient('a3', '1981', 'PSAME')]);
    // inst-ab: a name that starts like inst-a's must not be taken for it.
    write('Patient.inst-ab.ehr.p1.ndjson', [patient('b1', '1990'), patient('b3', '1981', 'PSAME')]);
    write('Observation.inst-a.ehr.p1.ndjson', [{ resourceType: 'Observation', id: 'o1' }]);
    const done: number[] = [];
    const risk = await assessReleaseRisk(runDir, {
      institutions: ['inst-a', 'inst-ab'],
      tallyFor: tallyFor(3),
      onFile: (n) => done.push(n),
    });
    expect(risk.institutions['inst-a']).toMatchObject({
      records: 4,
      classes: 2,
      k: 1,
      threshold: 3,
      recordsBelowThreshold: 1,
    });
    expect(risk.institutions['inst-ab']).toMatchObject({ records: 2, k: 1, recordsBelowThreshold: 2 });
    // a3 and b3 are one person at both institutions: a Patient of each, linked by the pseudonym.
    expect(risk.linkedPersons).toBe(1);
    expect(done).toEqual([1, 2, 3]);
    expect(JSON.parse(fs.readFileSync(path.join(runDir, 'risk.json'), 'utf8'))).toEqual(risk);
  });

  it('refuses a Patient file that names no institution of the registry, and a line that is not JSON', async () => {
    const runDir = path.join(tmp, 'run-2');
    fs.mkdirSync(path.join(runDir, 'fhir'), { recursive: true });
    fs.writeFileSync(
      path.join(runDir, 'fhir', 'Patient.elsewhere.ehr.p1.ndjson'),
      ndjson([patient('x', '1980')]),
    );
    await expect(
      assessReleaseRisk(runDir, { institutions: ['inst-a'], tallyFor: tallyFor(5) }),
    ).rejects.toThrow(/Patient\.elsewhere\.ehr\.p1\.ndjson names no institution/);
    fs.rmSync(path.join(runDir, 'fhir', 'Patient.elsewhere.ehr.p1.ndjson'));
    fs.writeFileSync(path.join(runDir, 'fhir', 'Patient.inst-a.ehr.p1.ndjson'), '{"resourceType":"Pat\n');
    await expect(
      assessReleaseRisk(runDir, { institutions: ['inst-a'], tallyFor: tallyFor(5) }),
    ).rejects.toThrow(/^fhir\/Patient\.inst-a\.ehr\.p1\.ndjson: line 1 is not JSON$/);
  });

  it('reports an empty release when nothing was published', async () => {
    const risk = await assessReleaseRisk(path.join(tmp, 'run-3'), {
      institutions: ['inst-a'],
      tallyFor: tallyFor(5),
    });
    expect(risk).toEqual({ institutions: {} });
  });
});
