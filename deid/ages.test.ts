import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { mapBuffer } from '../mappers/index';
import { DATA_DIR } from '../mappers/test-support/data';
import { hisCsvMappingSchema } from '../schemas/his-csv-mapping';
import { ageInYears, isAgeOverTop, topCodeAge } from './ages';
import { createDeidEngine, createKeyService, scanResidualPhi, type FhirResource } from './index';

const UCUM = 'http://unitsofmeasure.org';
const REPO = path.resolve(import.meta.dirname, '..');
const years = (value: number) => ({ value, unit: 'a', system: UCUM, code: 'a' });
const keyService = createKeyService({
  key: crypto.createHash('sha256').update('ages-test').digest(),
  keyId: 'k-ages',
});
const referenceDate = new Date('2025-06-01T00:00:00Z');

const patient: FhirResource = { resourceType: 'Patient', id: 'p1', gender: 'female' };
const subject = { reference: 'Patient/p1' };
/** An age Observation as the health check-up mapper writes it (LOINC 30525-0), with a given value[x]. */
const ageObservation = (id: string, value: Record<string, unknown>): FhirResource => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '30525-0', display: 'Age' }] },
  subject,
  effectiveDateTime: '2017-10-11',
  ...value,
});

function deidentify(resources: FhirResource[], profile: 'safe-harbor' | 'limited-dataset' = 'safe-harbor') {
  const engine = createDeidEngine({ profile, keyService, referenceDate });
  return engine.deidentifyResources([patient, ...resources], { institution: 'inst-a' });
}

describe('ageInYears', () => {
  it('reads UCUM codes, unit words and plain numbers; refuses what it cannot read', () => {
    expect(ageInYears(years(93))).toBe(93);
    expect(ageInYears({ value: 1116, unit: 'months', system: UCUM, code: 'mo' })).toBe(93);
    expect(ageInYears({ value: 93, unit: 'years' })).toBe(93);
    expect(ageInYears({ value: 93, unit: '岁' })).toBe(93);
    expect(ageInYears(93)).toBe(93);
    expect(ageInYears('93 yrs')).toBe(93);
    expect(ageInYears('93岁')).toBe(93);
    expect(ageInYears({ value: 93 })).toBeUndefined();
    expect(ageInYears({ value: 93, unit: 'kg' })).toBeUndefined();
    expect(ageInYears('ninety')).toBeUndefined();
  });
});

describe('topCodeAge / isAgeOverTop', () => {
  it('folds ages above 89 into one class and leaves the rest as written', () => {
    expect(topCodeAge(years(93), 89)).toEqual({
      value: 90,
      comparator: '>=',
      unit: 'a',
      system: UCUM,
      code: 'a',
    });
    expect(topCodeAge({ value: 1116, unit: 'months', system: UCUM, code: 'mo' }, 89)).toEqual(
      topCodeAge(years(93), 89),
    );
    expect(topCodeAge(years(89), 89)).toEqual(years(89));
    expect(topCodeAge({ value: 18, unit: 'mo', system: UCUM, code: 'mo' }, 89)).toEqual({
      value: 18,
      unit: 'mo',
      system: UCUM,
      code: 'mo',
    });
    expect(topCodeAge(93, 89)).toBe(90);
    expect(topCodeAge('93岁', 89)).toBe('90岁以上');
    expect(topCodeAge('93 years', 89)).toBe('90+');
    expect(topCodeAge({ value: 93 }, 89)).toBeUndefined();
  });

  it('accepts the top class and nothing else above 89', () => {
    expect(isAgeOverTop(topCodeAge(years(93), 89), 89)).toBe(false);
    expect(isAgeOverTop(years(93), 89)).toBe(true);
    expect(isAgeOverTop({ value: 90, unit: 'a', system: UCUM, code: 'a' }, 89)).toBe(true);
    expect(isAgeOverTop({ value: 95, comparator: '>=', unit: 'a', system: UCUM, code: 'a' }, 89)).toBe(true);
    expect(isAgeOverTop(91, 89)).toBe(true);
    expect(isAgeOverTop(90, 89)).toBe(false);
    expect(isAgeOverTop('90+', 89)).toBe(false);
    expect(isAgeOverTop(years(89), 89)).toBe(false);
  });
});

describe('ages in de-identified FHIR (safe-harbor)', () => {
  it('top-codes an age Observation above 89 whatever its value[x] type, and keeps one at 89', () => {
    const res = deidentify([
      ageObservation('o93', { valueQuantity: years(93) }),
      ageObservation('o89', { valueQuantity: years(89) }),
      ageObservation('oint', { valueInteger: 91 }),
      ageObservation('ostr', { valueString: '92岁' }),
    ]);
    expect(res.quarantined).toEqual([]);
    const obs = res.outputs.filter((r) => r.resourceType === 'Observation');
    expect(obs.map((o) => o.valueQuantity ?? o.valueInteger ?? o.valueString)).toEqual([
      { value: 90, comparator: '>=', unit: 'a', system: UCUM, code: 'a' },
      years(89),
      90,
      '90岁以上',
    ]);
    expect(JSON.stringify(res.outputs)).not.toMatch(/"value":9[1-3]\b|9[1-3]岁/);
  });

  it('top-codes an age component and Age elements (Condition.onsetAge, FamilyMemberHistory.ageAge)', () => {
    const res = deidentify([
      {
        resourceType: 'Observation',
        id: 'panel',
        status: 'final',
        code: { text: 'intake' },
        subject,
        component: [
          {
            code: { coding: [{ system: 'http://loinc.org', code: '21612-7' }] },
            valueQuantity: { value: 1140, unit: 'mo', system: UCUM, code: 'mo' },
          },
          {
            code: { coding: [{ system: 'http://loinc.org', code: '8302-2' }] },
            valueQuantity: { value: 95, unit: 'kg' },
          },
        ],
      },
      {
        resourceType: 'Condition',
        id: 'c1',
        code: { text: 'hip fracture' },
        subject,
        onsetAge: years(92),
      },
      {
        resourceType: 'FamilyMemberHistory',
        id: 'f1',
        status: 'completed',
        patient: subject,
        relationship: { text: 'mother' },
        ageAge: years(101),
      },
    ]);
    expect(res.quarantined).toEqual([]);
    const out = (type: string) => res.outputs.find((r) => r.resourceType === type)!;
    const components = out('Observation').component as { valueQuantity: unknown }[];
    expect(components[0].valueQuantity).toEqual({
      value: 90,
      comparator: '>=',
      unit: 'a',
      system: UCUM,
      code: 'a',
    });
    // a body weight of 95 kg is not an age
    expect(components[1].valueQuantity).toEqual({ value: 95, unit: 'kg' });
    expect(out('Condition').onsetAge).toEqual({
      value: 90,
      comparator: '>=',
      unit: 'a',
      system: UCUM,
      code: 'a',
    });
    expect(out('FamilyMemberHistory').ageAge).toEqual({
      value: 90,
      comparator: '>=',
      unit: 'a',
      system: UCUM,
      code: 'a',
    });
  });

  it('removes an age it cannot read rather than pass it', () => {
    const res = deidentify([ageObservation('ounk', { valueQuantity: { value: 93 } })]);
    const obs = res.outputs.find((r) => r.resourceType === 'Observation')!;
    expect(obs.valueQuantity).toBeUndefined();
    expect(obs.code).toBeDefined();
  });

  it('keeps ages under the limited data set', () => {
    const res = deidentify([ageObservation('o93', { valueQuantity: years(93) })], 'limited-dataset');
    expect(res.quarantined).toEqual([]);
    expect(res.outputs.find((r) => r.resourceType === 'Observation')!.valueQuantity).toEqual(years(93));
  });
});

describe('the residual-PHI gate on ages', () => {
  it('finds an age above the top in an age Observation, a component and an Age element, by path', () => {
    const findings = (r: FhirResource) =>
      scanResidualPhi(r, [], { topAge: 89 }).map((f) => `${f.rule} ${f.path}`);
    expect(findings(ageObservation('o', { valueQuantity: years(93) }))).toEqual([
      'gate.age-over-89 Observation.valueQuantity',
    ]);
    expect(findings(ageObservation('o', { valueInteger: 93 }))).toEqual([
      'gate.age-over-89 Observation.valueInteger',
    ]);
    expect(
      findings({
        resourceType: 'Observation',
        component: [
          { code: { coding: [{ system: 'http://loinc.org', code: '29553-5' }] }, valueQuantity: years(97) },
        ],
      }),
    ).toEqual(['gate.age-over-89 Observation.component[0].valueQuantity']);
    expect(findings({ resourceType: 'Condition', onsetAge: years(92) })).toEqual([
      'gate.age-over-89 Condition.onsetAge',
    ]);
    // passed: the top class, an age at 89, a non-age value, and no topAge (a policy that keeps ages)
    expect(findings(ageObservation('o', { valueQuantity: topCodeAge(years(93), 89) as object }))).toEqual([]);
    expect(findings(ageObservation('o', { valueQuantity: years(89) }))).toEqual([]);
    expect(
      findings({ resourceType: 'Observation', code: { text: 'weight' }, valueQuantity: years(93) }),
    ).toEqual([]);
    expect(scanResidualPhi(ageObservation('o', { valueQuantity: years(93) }), [])).toEqual([]);
  });
});

describe('ages of the real Tianchi check-up file through mapping and de-identification', () => {
  /** The train file's header, its two rows aged over 89 (ids 4679 and 5545) and its first 20 rows, as the file is. */
  async function mapSample() {
    const file = path.join(DATA_DIR, 'cn-ehr', 'tianchi-diabetes-checkup', 'd_train_20180102.csv');
    const lines = iconv.decode(fs.readFileSync(file), 'gb18030').split('\r\n');
    const old = lines.filter((l, i) => i > 0 && Number(l.split(',')[2]) > 89);
    expect(old.map((l) => l.split(',').slice(0, 3).join(','))).toEqual(['4679,男,91', '5545,女,93']);
    const sample = [lines[0], ...old, ...lines.slice(1, 21)].join('\r\n') + '\r\n';
    const columnMapping = hisCsvMappingSchema.parse(
      JSON.parse(fs.readFileSync(path.join(REPO, 'config/his-csv/tianchi-diabetes-checkup.json'), 'utf8')),
    );
    const mapped = await mapBuffer('his-csv', iconv.encode(sample, 'gb18030'), {
      institution: 'tianchi-diabetes-checkup',
      sourceFile: 'd_train_20180102.csv',
      columnMapping,
    });
    expect(mapped.recordsRejected).toBe(0);
    return mapped.resources;
  }
  const agesIn = (list: FhirResource[]) =>
    list
      .filter((r) => r.resourceType === 'Observation' && JSON.stringify(r.code).includes('30525-0'))
      .map((o) => (o.valueQuantity as { value: number; comparator?: string }) ?? null);

  it('top-codes 91 and 93 under safe-harbor and gbt-37964, keeps the younger ages, and quarantines nothing', async () => {
    const resources = await mapSample();
    expect(
      agesIn(resources)
        .slice(0, 2)
        .map((q) => q.value),
    ).toEqual([91, 93]);
    for (const profile of ['safe-harbor', 'gbt-37964'] as const) {
      const engine = createDeidEngine({ profile, keyService, referenceDate });
      const res = engine.deidentifyResources(resources, { institution: 'tianchi-diabetes-checkup' });
      expect(res.quarantined).toEqual([]);
      const ages = agesIn(res.outputs);
      expect(ages).toHaveLength(22);
      expect(ages.slice(0, 2)).toEqual([
        { value: 90, comparator: '>=', unit: 'a', system: UCUM, code: 'a' },
        { value: 90, comparator: '>=', unit: 'a', system: UCUM, code: 'a' },
      ]);
      expect(ages.slice(2).map((q) => q.value)).toEqual(
        agesIn(resources)
          .slice(2)
          .map((q) => q.value),
      );
      expect(ages.every((q) => q.value <= 90)).toBe(true);
      // the dataset's row ids are record identifiers: pseudonymized, never written out
      const out = JSON.stringify(res.outputs);
      expect(out).not.toMatch(/"value":"(4679|5545)"/);
    }
  });
});
