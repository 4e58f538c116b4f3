import fs from 'node:fs';
import path from 'node:path';
import iconv from 'iconv-lite';
import { beforeAll, describe, expect, it } from 'vitest';
import { hisCsvMappingSchema } from '../../schemas/his-csv-mapping';
import { mrnSystem, patientStableId } from '../ids';
import { mapFile } from '../index';
import { DATA_DIR, byType, expectReconciled } from '../test-support/data';
import type { FhirResource, MapContext, MapResult } from '../types';
import { validateFhirResource } from '../validate';
import { mapHisCsv } from './his-csv';

/** The real Tianchi check-up files (cn-ehr/tianchi-diabetes-checkup in ../shared/data/SOURCES.md): wide, GB18030, CRLF. */
const DIR = path.join(DATA_DIR, 'cn-ehr', 'tianchi-diabetes-checkup');
const TEST_FILE = path.join(DIR, 'd_test_A_20180102.csv');
const TRAIN_FILE = path.join(DIR, 'd_train_20180102.csv');
const INSTITUTION = 'tianchi-diabetes-checkup';
const mapping = hisCsvMappingSchema.parse(
  JSON.parse(
    fs.readFileSync(new URL('../../config/his-csv/tianchi-diabetes-checkup.json', import.meta.url), 'utf8'),
  ),
);
const ctxFor = (file: string): MapContext => ({
  institution: INSTITUTION,
  sourceFile: path.basename(file),
  columnMapping: mapping,
  timezone: 'Asia/Shanghai',
});

/**
 * The file read without the mapper, for counts the mapper must reproduce. It has no quoted cells (checked), so a
 * comma always separates cells and CRLF always ends a row.
 */
function readTable(file: string): { header: string[]; rows: string[][] } {
  const text = iconv.decode(fs.readFileSync(file), 'gb18030');
  expect(text).not.toContain('"');
  const lines = text.split('\r\n');
  expect(lines.pop()).toBe('');
  const [header, ...rows] = lines.map((l) => l.split(','));
  expect(header.slice(0, 4)).toEqual(['id', '性别', '年龄', '体检日期']);
  for (const r of rows) expect(r).toHaveLength(header.length);
  return { header, rows };
}

/** Non-empty result cells (every column after the four identifying ones) of one row. */
const resultsGiven = (row: string[]) => row.slice(4).filter((c) => c !== '').length;

const labsOf = (r: MapResult) =>
  byType(r, 'Observation').filter((o) => JSON.stringify(o.category).includes('laboratory'));
const agesOf = (r: MapResult) =>
  byType(r, 'Observation').filter(
    (o) => (o.code as { coding: { code: string }[] }).coding[0].code === '30525-0',
  );
const subjectOf = (r: FhirResource) => (r.subject as { reference: string }).reference;
const patientRef = (id: string) => `Patient/${patientStableId(INSTITUTION, id)}`;

describe('HIS CSV check-up table on the real Tianchi test file (1,000 rows, no glucose column)', () => {
  const table = readTable(TEST_FILE);
  let whole: MapResult;
  beforeAll(async () => {
    whole = await mapFile('his-csv', TEST_FILE, ctxFor(TEST_FILE));
  });

  it('maps every row, with one Patient, Encounter and age each and one Observation per result given', () => {
    expectReconciled(whole);
    expect(table.rows).toHaveLength(1000);
    expect([whole.recordsIn, whole.recordsMapped, whole.recordsRejected]).toEqual([1000, 1000, 0]);
    expect(whole.issues).toEqual([]);
    expect(byType(whole, 'Patient')).toHaveLength(1000);
    expect(byType(whole, 'Encounter')).toHaveLength(1000);
    expect(agesOf(whole)).toHaveLength(1000);
    const labs = labsOf(whole);
    expect(labs).toHaveLength(table.rows.reduce((n, r) => n + resultsGiven(r), 0));
    expect(byType(whole, 'Observation')).toHaveLength(labs.length + 1000);
    // Per row, not only in total: empty cells (tests not done) give nothing, the rest one Observation each.
    const perSubject = new Map<string, number>();
    for (const o of labs) perSubject.set(subjectOf(o), (perSubject.get(subjectOf(o)) ?? 0) + 1);
    for (const r of table.rows) expect(perSubject.get(patientRef(r[0])) ?? 0).toBe(resultsGiven(r));
  });

  it('carries the first row exactly: MRN, sex, age, check-up date and AST with its LOINC code and UCUM unit', () => {
    expect(table.rows[0].slice(0, 5)).toEqual(['5733', '男', '54', '10/10/2017', '23.85']);
    const patient = byType(whole, 'Patient')[0];
    expect(patient).toEqual({
      resourceType: 'Patient',
      id: patientStableId(INSTITUTION, '5733'),
      identifier: [
        {
          type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] },
          system: mrnSystem(INSTITUTION),
          value: '5733',
        },
      ],
      gender: 'male',
    });
    const encounter = byType(whole, 'Encounter')[0];
    expect(encounter).toMatchObject({
      status: 'finished',
      class: { code: 'AMB' },
      type: [{ text: '体检' }],
      subject: { reference: patientRef('5733') },
      period: { start: '2017-10-10' },
    });
    const encounterRef = { reference: `Encounter/${encounter.id}` };
    expect(agesOf(whole)[0]).toMatchObject({
      category: [{ coding: [{ code: 'survey' }] }],
      subject: { reference: patientRef('5733') },
      encounter: encounterRef,
      effectiveDateTime: '2017-10-10',
      valueQuantity: { value: 54, unit: 'a', system: 'http://unitsofmeasure.org', code: 'a' },
    });
    const ast = labsOf(whole).find(
      (o) => subjectOf(o) === patientRef('5733') && JSON.stringify(o.code).includes('"AST"'),
    );
    expect(ast).toMatchObject({
      status: 'final',
      code: {
        coding: [
          { system: 'http://loinc.org', code: '1920-8' },
          { system: `urn:tributary:${INSTITUTION}:lab-codes`, code: 'AST', display: '天门冬氨酸氨基转换酶' },
        ],
        text: '天门冬氨酸氨基转换酶',
      },
      encounter: encounterRef,
      effectiveDateTime: '2017-10-10',
      valueQuantity: { value: 23.85, unit: 'U/L', system: 'http://unitsofmeasure.org', code: 'U/L' },
    });
  });

  it('gives resources that each pass FHIR R4 validation, with ids unique and stable', async () => {
    for (const r of whole.resources) expect(validateFhirResource(r), `${r.resourceType}/${r.id}`).toEqual([]);
    expect(new Set(whole.resources.map((r) => `${r.resourceType}/${r.id}`)).size).toBe(
      whole.resources.length,
    );
    const again = mapHisCsv(fs.readFileSync(TEST_FILE), ctxFor(TEST_FILE));
    expect(again.resources.map((r) => r.id)).toEqual(whole.resources.map((r) => r.id));
  });

  it('gives the same resources and counts mapped in small pieces as mapped whole', async () => {
    const batches: MapResult[] = [];
    const totals = await mapFile('his-csv', TEST_FILE, ctxFor(TEST_FILE), async (b) => void batches.push(b), {
      pieceBytes: 8192,
    });
    expect(batches.length).toBeGreaterThan(10);
    expect(batches.flatMap((b) => b.resources)).toEqual(whole.resources);
    expect(batches.flatMap((b) => b.issues)).toEqual(whole.issues);
    expect([totals.recordsIn, totals.recordsMapped, totals.recordsRejected]).toEqual([1000, 1000, 0]);
  });

  it('rejects a row whose id or date is missing, or whose age is not a number of years, naming line and field', () => {
    const bytes = fs.readFileSync(TEST_FILE);
    const text = iconv.decode(bytes, 'gb18030');
    const [headerLine, first] = text.split('\r\n');
    const cells = first.split(',');
    const withCell = (at: number, value: string) => cells.map((c, i) => (i === at ? value : c)).join(',');
    const rows = [
      first,
      withCell(0, ''),
      withCell(2, '-3'),
      withCell(2, '五十四'),
      withCell(3, ''),
      withCell(3, '2017-10-10'),
      withCell(2, ''),
    ];
    const r = mapHisCsv(iconv.encode([headerLine, ...rows].join('\r\n') + '\r\n', 'gbk'), {
      ...ctxFor(TEST_FILE),
      sourceFile: 'x.csv',
    });
    expectReconciled(r);
    expect([r.recordsIn, r.recordsMapped, r.recordsRejected]).toEqual([7, 2, 5]);
    expect(r.issues.map((i) => [i.severity, i.location?.[0]])).toEqual([
      ['error', 'x.csv:line 3:mrn'],
      ['error', 'x.csv:line 4:age'],
      ['error', 'x.csv:line 5:age'],
      ['error', 'x.csv:line 6:checkupDate'],
      ['error', 'x.csv:line 7:checkupDate'],
    ]);
    const messages = JSON.stringify(r.issues);
    for (const value of ['-3', '五十四', '2017-10-10', '5733']) expect(messages).not.toContain(value);
    // An empty age is an age not recorded: the row keeps its labs, without an age Observation.
    expect(agesOf(r)).toHaveLength(1);
  });
});

describe('HIS CSV check-up table on the real Tianchi train file (5,642 rows), mapped once in pieces', () => {
  const table = readTable(TRAIN_FILE);
  const batches: MapResult[] = [];
  let result: MapResult;
  beforeAll(async () => {
    const totals = await mapFile(
      'his-csv',
      TRAIN_FILE,
      ctxFor(TRAIN_FILE),
      async (b) => void batches.push(b),
      {
        pieceBytes: 256 * 1024,
      },
    );
    result = {
      ...totals,
      resources: batches.flatMap((b) => b.resources),
      issues: batches.flatMap((b) => b.issues),
    };
  });

  it('maps every row (each validated by the sink) and one Observation per result given, glucose included', () => {
    expect(batches.length).toBeGreaterThan(1);
    expectReconciled(result);
    expect([result.recordsIn, result.recordsMapped, result.recordsRejected]).toEqual([5642, 5642, 0]);
    expect(byType(result, 'Patient')).toHaveLength(5642);
    expect(byType(result, 'Encounter')).toHaveLength(5642);
    expect(agesOf(result)).toHaveLength(5642);
    expect(labsOf(result)).toHaveLength(table.rows.reduce((n, r) => n + resultsGiven(r), 0));
    expect(labsOf(result).filter((o) => JSON.stringify(o.code).includes('"14749-6"'))).toHaveLength(
      table.rows.filter((r) => r[table.header.indexOf('血糖')] !== '').length,
    );
  });

  it('carries ages of 90 and over as measured (the de-identifier top-codes them)', () => {
    const old = table.rows.filter((r) => Number(r[2]) >= 90);
    expect(old.map((r) => r[2]).sort()).toEqual(['91', '93']);
    for (const r of old) {
      const [age] = agesOf(result).filter((o) => subjectOf(o) === patientRef(r[0]));
      expect(age.valueQuantity).toEqual({
        value: Number(r[2]),
        unit: 'a',
        system: 'http://unitsofmeasure.org',
        code: 'a',
      });
    }
  });

  it('keeps the labs of the row whose sex is "??" with gender unknown, and warns without the value', () => {
    const at = table.rows.findIndex((r) => r[1] !== '男' && r[1] !== '女');
    expect(at + 2).toBe(574);
    const row = table.rows[at];
    expect(row[0]).toBe('580');
    const patient = byType(result, 'Patient').find((p) => p.id === patientStableId(INSTITUTION, '580'));
    expect(patient?.gender).toBe('unknown');
    expect(labsOf(result).filter((o) => subjectOf(o) === patientRef('580'))).toHaveLength(resultsGiven(row));
    expect(resultsGiven(row)).toBeGreaterThan(30);
    expect(result.issues).toHaveLength(1);
    const [warning] = result.issues;
    expect(warning).toMatchObject({
      severity: 'warning',
      location: ['d_train_20180102.csv:line 574:sex'],
    });
    expect(warning.diagnostics).toContain('性别');
    expect(JSON.stringify(result.issues)).not.toContain('??');
  });
});
