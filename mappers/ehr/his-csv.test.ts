import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import type { HisCsvMapping } from '../../schemas/his-csv-mapping';
import { patientStableId, stableId } from '../ids';
import { expectReconciled } from '../test-support/data';
import { mapFile } from '../index';
import type { MapContext, MapResult } from '../types';
import { compileDatePattern, mapHisCsv } from './his-csv';

const mapping: HisCsvMapping = {
  institution: 'test-inst',
  encoding: 'gbk',
  delimiter: ',',
  dateFormat: 'YYYY/M/D H:mm',
  dateOnlyFormat: 'YYYY/M/D',
  tables: {
    patients: {
      file: 'patients.csv',
      columns: { 病案号: 'mrn', 姓名: 'name', 性别: 'sex', 出生日期: 'birthDate', 身份证号: 'nationalId' },
    },
    visits: {
      file: 'visits.csv',
      columns: {
        就诊号: 'visitId',
        病案号: 'mrn',
        就诊类型: 'visitType',
        入院时间: 'admitTime',
        出院时间: 'dischargeTime',
      },
    },
    diagnoses: {
      file: 'diagnoses.csv',
      columns: {
        就诊号: 'visitId',
        病案号: 'mrn',
        ICD10: 'icd10',
        诊断名称: 'diagnosisName',
        诊断类型: 'diagnosisType',
        诊断时间: 'diagnosisTime',
      },
    },
    labs: {
      file: 'labs.csv',
      columns: {
        就诊号: 'visitId',
        病案号: 'mrn',
        代码: 'localCode',
        项目: 'itemName',
        结果: 'value',
        单位: 'unit',
        参考范围: 'referenceRange',
        标志: 'abnormalFlag',
        报告时间: 'resultTime',
      },
    },
    prescriptions: {
      file: 'prescriptions.csv',
      columns: {
        就诊号: 'visitId',
        病案号: 'mrn',
        药品: 'drugName',
        剂量: 'dose',
        单位: 'doseUnit',
        天数: 'days',
        开方时间: 'orderTime',
      },
    },
    notes: {
      file: 'notes.csv',
      columns: { 就诊号: 'visitId', 病案号: 'mrn', 类型: 'noteType', 时间: 'noteTime', 内容: 'text' },
    },
  },
};
const ctx: MapContext = {
  institution: 'test-inst',
  sourceFile: 'x.csv',
  columnMapping: mapping,
  timezone: 'Asia/Shanghai',
};
const gbk = (rows: string[]): Buffer => iconv.encode(rows.join('\r\n') + '\r\n', 'gbk');

describe('mapHisCsv', () => {
  it('decodes GBK and keeps the Chinese diagnosis text with its ICD-10 code', () => {
    const r = mapHisCsv(
      gbk([
        '就诊号,病案号,ICD10,诊断名称,诊断类型,诊断时间',
        'V1,ZY001,I10,原发性高血压,主要诊断,2024/3/5 9:05',
      ]),
      { ...ctx, sourceFile: 'diagnoses.csv' },
    );
    expectReconciled(r);
    const [c] = r.resources;
    expect(c).toMatchObject({
      resourceType: 'Condition',
      code: { coding: [{ system: 'http://hl7.org/fhir/sid/icd-10', code: 'I10' }], text: '原发性高血压' },
      subject: { reference: `Patient/${patientStableId('test-inst', 'ZY001')}` },
      encounter: { reference: `Encounter/${stableId('test-inst', 'Encounter', 'V1')}` },
      recordedDate: '2024-03-05T09:05:00+08:00',
      extension: [{ valueCode: 'primary' }],
    });
  });

  it('maps patients with the resident ID system, labs with UCUM and comparators, notes as base64 text', () => {
    const p = mapHisCsv(
      gbk(['病案号,姓名,性别,出生日期,身份证号', 'ZY001,张三丰,男,1980/1/2,11010119800102123X']),
      ctx,
    );
    expect(p.resources[0]).toMatchObject({
      gender: 'male',
      birthDate: '1980-01-02',
      name: [{ text: '张三丰', family: '张', given: ['三丰'] }],
      identifier: [
        { system: 'urn:tributary:test-inst:mrn', value: 'ZY001' },
        { system: 'urn:tributary:cn-resident-id', value: '11010119800102123X' },
      ],
    });
    const labs = mapHisCsv(
      gbk([
        '就诊号,病案号,代码,项目,结果,单位,参考范围,标志,报告时间',
        'V1,ZY001,GLU,葡萄糖,7.8,mmol/L,3.9-6.1,↑,2024/3/5 10:00',
        'V1,ZY001,CRP,C反应蛋白,<0.5,mg/L,0-10,,2024/3/5 10:00',
        'V1,ZY001,HBSAG,乙肝表面抗原,阴性,,,,2024/3/5 10:00',
      ]),
      ctx,
    );
    expectReconciled(labs);
    const [glu, crp, hbs] = labs.resources;
    expect(glu.valueQuantity).toEqual({
      value: 7.8,
      unit: 'mmol/L',
      system: 'http://unitsofmeasure.org',
      code: 'mmol/L',
    });
    expect(glu.interpretation).toEqual([
      {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: 'H' }],
      },
    ]);
    expect(crp.valueQuantity).toMatchObject({ value: 0.5, comparator: '<', code: 'mg/L' });
    expect(hbs.valueString).toBe('阴性');
    const notes = mapHisCsv(
      gbk([
        '就诊号,病案号,类型,时间,内容',
        'V1,ZY001,出院小结,2024/3/6 8:00,"出院小结\r\n患者一般情况好，予出院。"',
      ]),
      ctx,
    );
    expectReconciled(notes);
    const att = (notes.resources[0].content as { attachment: { data: string } }[])[0].attachment;
    expect(Buffer.from(att.data, 'base64').toString('utf8')).toContain('患者一般情况好');
    expect(notes.resources[0].type).toMatchObject({ coding: [{ code: '18842-5' }] });
  });

  it('rejects short rows, bad dates and undecodable cells with line numbers, keeping the rest', () => {
    const rows = [
      '就诊号,病案号,就诊类型,入院时间,出院时间',
      'V1,ZY001,住院,2024/3/1 8:00,2024/3/6 8:00',
      'V2,ZY001',
      'V3,ZY001,门诊,yesterday,',
      'V4,ZY002,急诊,2024/3/2 8:00,',
    ];
    const r = mapHisCsv(gbk(rows), ctx);
    expectReconciled(r);
    expect(r.recordsIn).toBe(4);
    expect(r.recordsMapped).toBe(2);
    expect(r.issues.map((i) => i.location?.[0])).toEqual(['x.csv:line 3', 'x.csv:line 4:admitTime']);
    expect(JSON.stringify(r.issues)).not.toContain('yesterday');
    // A UTF-8 file declared GBK is detected rather than turned into mojibake.
    const utf8 = mapHisCsv(Buffer.from(rows.slice(0, 2).join('\r\n')), ctx);
    expect(utf8.resources[0]).toMatchObject({ class: { code: 'IMP' }, status: 'finished' });
    expect(utf8.issues[0].diagnostics).toContain('UTF-8');
    // GBK bytes in a file declared UTF-8: the row is rejected, not stored garbled.
    const wrong = mapHisCsv(gbk(rows.slice(0, 2)), {
      ...ctx,
      columnMapping: { ...mapping, encoding: 'utf-8' },
    });
    expectReconciled(wrong);
    expect(wrong.recordsRejected).toBeGreaterThan(0);
  });

  it('compiles date patterns once and validates ranges', () => {
    const p = compileDatePattern('D/M/YYYY H:mm');
    expect(p('5/3/2024 9:07')).toEqual([2024, 3, 5, 9, 7, 0]);
    expect(p('35/3/2024 9:07')).toBeUndefined();
  });
});

describe('mapHisCsv on a piece of a larger file (a file drop split into pages)', () => {
  it('gives the whole file’s records and locations when the pieces carry the header and their first line', () => {
    const header = '就诊号,病案号,类型,时间,内容';
    // A note with a quoted CRLF: a record of two lines in an editor (csv-parse alone would count three).
    // Rows 5 and 8 lack a column: rejected, each with its line in the file.
    const rows = Array.from({ length: 9 }, (_, i) =>
      i === 4
        ? `V${i},ZY00${i},出院小结,2024/3/5 9:05,"第一行\r\n第二行"`
        : i === 5 || i === 8
          ? `V${i},ZY00${i},出院小结,2024/3/5 9:05`
          : `V${i},ZY00${i},出院小结,2024/3/5 9:05,无特殊`,
    );
    const file = { ...ctx, sourceFile: 'notes.csv' };
    const whole = mapHisCsv(gbk([header, ...rows]), file);
    expect(whole.recordsMapped).toBe(7);
    expect(whole.issues.map((i) => i.location?.[0])).toEqual(['notes.csv:line 8', 'notes.csv:line 11']);
    // Pieces of rows 0-3, 4-6 (the two-line note inside) and 7-8: file lines 2, 6 and 10.
    const pieces = [
      { rows: rows.slice(0, 4), firstLine: 2 },
      { rows: rows.slice(4, 7), firstLine: 6 },
      { rows: rows.slice(7), firstLine: 10 },
    ].map((p) => mapHisCsv(gbk([header, ...p.rows]), { ...file, firstLine: p.firstLine }));
    expect(pieces.flatMap((p) => p.resources)).toEqual(whole.resources);
    expect(pieces.flatMap((p) => p.issues)).toEqual(whole.issues);
  });
});

describe('mapFile on a HIS CSV dump with a batch handler', () => {
  it('maps it in pieces of whole records, each with the header, giving the whole file’s records and lines', async () => {
    const header = '就诊号,病案号,类型,时间,内容';
    const rows = Array.from({ length: 300 }, (_, i) =>
      i % 7 === 3
        ? `V${i},ZY${i},出院小结,2024/3/5 9:05,"第一行\r\n第二行, 引号""内"""`
        : i % 50 === 10
          ? `V${i},ZY${i},出院小结,2024/3/5 9:05`
          : `V${i},ZY${i},出院小结,2024/3/5 9:05,无特殊`,
    );
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'his-csv-pieces-'));
    try {
      const file = path.join(dir, 'notes.csv');
      fs.writeFileSync(file, gbk([header, ...rows]));
      const fileCtx = { ...ctx, sourceFile: 'notes.csv' };
      const whole = await mapFile('his-csv', file, fileCtx);
      expect(whole.recordsRejected).toBe(5);
      const batches: MapResult[] = [];
      const totals = await mapFile('his-csv', file, fileCtx, async (b) => void batches.push(b), {
        pieceBytes: 1500,
      });
      expect(batches.length).toBeGreaterThan(5);
      expect(batches.flatMap((b) => b.resources)).toEqual(whole.resources);
      expect(batches.flatMap((b) => b.issues)).toEqual(whole.issues);
      expect([totals.recordsIn, totals.recordsMapped]).toEqual([whole.recordsIn, whole.recordsMapped]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
