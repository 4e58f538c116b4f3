import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { FhirResource } from '../mappers/types';
import { createKeyService } from './key-service';
import { deidentifyNdjson } from './ndjson-run';
import { assessCumulativeRelease } from './release-risk';
import { createRiskTally } from './risk';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-risk-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const UCUM = 'http://unitsofmeasure.org';
const options = {
  k: 2,
  quasiIdentifiers: ['age-band' as const, 'sex' as const],
  referenceDate: new Date('2025-06-01'),
};
const ndjson = (resources: object[]) => resources.map((r) => JSON.stringify(r) + '\n').join('');

/** A check-up export's shape: Patients with sex only, their ages in Observations (LOINC 30525-0). */
function checkupRelease(ages: number[]): { patients: FhirResource[]; observations: FhirResource[] } {
  const patients = ages.map((_, i) => ({ resourceType: 'Patient', id: `p${i}`, gender: 'male' }));
  const observations = ages.map((years, i) => ({
    resourceType: 'Observation',
    id: `age${i}`,
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '30525-0' }] },
    subject: { reference: `Patient/p${i}` },
    effectiveDateTime: '2017-10-10',
    valueQuantity: { value: years, unit: 'a', system: UCUM, code: 'a' },
  }));
  return { patients, observations };
}

describe('createRiskTally', () => {
  it('takes the age band from age Observations when the release has no birth date', () => {
    const { patients } = checkupRelease([40, 41, 93]);
    const withoutAges = createRiskTally(options);
    for (const p of patients) withoutAges.add(p);
    // every man alike: one class of 3, and the report says the age band was unknown for all of them
    expect(withoutAges.report(0)).toMatchObject({
      k: 3,
      classes: 1,
      unknownQuasiIdentifiers: { 'age-band': 3 },
    });

    const tally = createRiskTally(options);
    const keys = patients.map((p) => tally.add(p));
    tally.addAge('Patient/p0', 40);
    tally.addAge('Patient/p1', 41);
    tally.addAge('Patient/p2', 93);
    const report = tally.report(0);
    expect(report).toMatchObject({ k: 1, classes: 2, records: 3, recordsBelowThreshold: 1 });
    expect(report.unknownQuasiIdentifiers).toBeUndefined();
    expect(keys.map((k) => tally.isBelowThreshold(k))).toEqual([false, false, true]);
  });

  it('prefers the birth date, and counts a Patient written twice once', () => {
    const tally = createRiskTally(options);
    tally.add({ resourceType: 'Patient', id: 'a', gender: 'female', birthDate: '1980' });
    tally.add({ resourceType: 'Patient', id: 'a', gender: 'female', birthDate: '1980' });
    tally.add({ resourceType: 'Patient', id: 'b', gender: 'female', birthDate: '1981' });
    tally.addAge('Patient/a', 93);
    expect(tally.report(0)).toMatchObject({ records: 2, classes: 1, k: 2 });
  });
});

describe('k-anonymity of a release whose ages are Observations', () => {
  it('tributary deid fhir counts them, and suppression masks the ages of people below k', () => {
    const { patients, observations } = checkupRelease([40, 41, 93]);
    const inDir = path.join(tmp, 'checkup');
    fs.mkdirSync(inDir);
    fs.writeFileSync(path.join(inDir, 'Patient.ndjson'), ndjson(patients));
    fs.writeFileSync(path.join(inDir, 'Observation.ndjson'), ndjson(observations));
    const keyService = createKeyService({
      key: crypto.createHash('sha256').update('risk').digest(),
      keyId: 'k',
    });
    const run = (outDir: string, suppress: boolean) =>
      deidentifyNdjson({
        inPath: inDir,
        outDir,
        profile: 'safe-harbor',
        keyService,
        institution: 'inst-a',
        suppress,
        policy: {
          name: 'study',
          version: '1.0.0',
          extends: 'safe-harbor',
          risk: { k: 2, quasiIdentifiers: ['age-band', 'sex'], suppress },
          rules: [],
        },
      });
    const plain = run(path.join(tmp, 'plain'), false);
    expect(plain.totals.quarantined).toBe(0);
    // 40 and 41 share the band 40; the 93-year-old (published as 90 or older) is alone
    expect(plain.risk).toMatchObject({ k: 1, classes: 2, recordsBelowThreshold: 1, suppressed: 0 });

    const out = path.join(tmp, 'suppressed');
    const suppressed = run(out, true);
    expect(suppressed.risk).toMatchObject({ recordsBelowThreshold: 1, suppressed: 1 });
    const ages = fs
      .readFileSync(path.join(out, 'Observation.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as FhirResource);
    expect(ages.map((o) => (o.valueQuantity as { value?: number } | undefined)?.value)).toEqual([
      40,
      41,
      undefined,
    ]);
    expect(ages[2].dataAbsentReason).toEqual({
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code: 'masked' }],
    });
    expect(ages[2].code).toEqual(observations[2].code);

    // the cumulative release (tributary deid risk) reads the Observation files too
    return assessCumulativeRelease([path.join(tmp, 'plain')], createRiskTally(options)).then(({ report }) =>
      expect(report).toMatchObject({ k: 1, classes: 2, records: 3 }),
    );
  });
});
