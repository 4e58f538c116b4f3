/**
 * EHR as a hospital information system's CSV export: one file per table, headers and date formats from
 * config/his-csv/<institution>.json, GBK or UTF-8 as the registry says.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import iconv from 'iconv-lite';
import {
  hisCsvMappingSchema,
  hisLongTables,
  type HisCsvMapping,
  type HisLongTable,
} from '../schemas/his-csv-mapping';
import { parseAtEdge } from '../platform/config';
import { TributaryError } from '../platform/errors';
import type { PhiType } from '../schemas/ground-truth';
import type { Registration, World } from './model';
import type { Sink } from './sink';
import { formatPattern, birthDateMs } from './dates';
import { Rng } from './prng';

export const HIS_MAPPING_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../config/his-csv',
);

export function loadHisMapping(institutionId: string, dir = HIS_MAPPING_DIR): HisCsvMapping {
  const file = path.join(dir, `${institutionId}.json`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new TributaryError(`HIS CSV mapping ${file}: ${(err as Error).message}`, {
      code: 'invalid',
      location: file,
      nonRetryable: true,
    });
  }
  return parseAtEdge(hisCsvMappingSchema, raw, `HIS CSV mapping ${file}`);
}

/** RFC 4180 cell: quoted when it holds the delimiter, a quote or a line break. */
export function csvCell(value: string, delimiter: string): string {
  return value.includes(delimiter) || /["\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

type Row = Record<string, string>;
interface RowPlant {
  field: string;
  value: string | undefined;
  type: PhiType;
}

export function writeHisEhr(
  world: World,
  instId: string,
  regs: Registration[],
  sink: Sink,
  mapping = loadHisMapping(instId),
): void {
  const off = world.offsets.get(instId) as number;
  const zh = regs[0]?.institution.locale === 'zh-CN';
  const rng = new Rng(world.seed, `his:${instId}`);
  const dt = (t: number) => formatPattern(t, off, mapping.dateFormat);
  const rows: Record<HisLongTable, { row: Row; person: string; plants: RowPlant[] }[]> = {
    patients: [],
    visits: [],
    diagnoses: [],
    labs: [],
    prescriptions: [],
    notes: [],
  };
  const fieldsOf = (t: HisLongTable) => new Set(Object.values(mapping.tables[t]?.columns ?? {}));

  for (const reg of regs) {
    const p = reg.person;
    const pf = fieldsOf('patients');
    const patient: Row = {
      mrn: reg.mrn,
      name: reg.name.text,
      sex: zh ? (p.sex === 'male' ? '男' : '女') : p.sex === 'male' ? 'M' : 'F',
      birthDate: formatPattern(birthDateMs(p.birthDate), 0, mapping.dateOnlyFormat),
      nationalId: p.nationalId,
      phone: reg.phone ?? '',
      address: reg.address ?? '',
      ethnicity: zh
        ? rng.chance(0.9)
          ? '汉族'
          : '回族'
        : rng.pick(['Not Hispanic or Latino', 'Hispanic or Latino', '']),
      insuranceId: reg.insuranceId ?? '',
    };
    rows.patients.push({
      row: patient,
      person: p.id,
      plants: [
        { field: 'mrn', value: reg.mrn, type: 'mrn' },
        { field: 'name', value: reg.name.text, type: 'name' },
        { field: 'birthDate', value: patient.birthDate, type: 'birth-date' },
        { field: 'nationalId', value: p.nationalId, type: 'national-id' },
        { field: 'phone', value: reg.phone, type: 'phone' },
        { field: 'address', value: reg.address, type: 'address' },
        ...(pf.has('insuranceId')
          ? [{ field: 'insuranceId', value: reg.insuranceId, type: 'insurance-id' as const }]
          : []),
      ],
    });
    for (const v of reg.visits) {
      const mrnPlant: RowPlant = { field: 'mrn', value: reg.mrn, type: 'mrn' };
      rows.visits.push({
        row: {
          visitId: v.id,
          mrn: reg.mrn,
          visitType: zh
            ? { outpatient: '门诊', inpatient: '住院', emergency: '急诊' }[v.type]
            : { outpatient: 'OP', inpatient: 'IP', emergency: 'ER' }[v.type],
          admitTime: dt(v.start),
          dischargeTime: v.end ? dt(v.end) : '',
          department: v.department,
          attendingDoctor: v.doctor,
        },
        person: p.id,
        plants: [
          mrnPlant,
          { field: 'admitTime', value: dt(v.start), type: 'date' },
          { field: 'dischargeTime', value: v.end ? dt(v.end) : undefined, type: 'date' },
          { field: 'attendingDoctor', value: v.doctor, type: 'doctor' },
        ],
      });
      for (const d of v.diagnoses) {
        rows.diagnoses.push({
          row: {
            visitId: v.id,
            mrn: reg.mrn,
            icd10: d.def.icd10,
            diagnosisName: zh ? d.def.zh : d.def.en,
            diagnosisType: zh ? (d.primary ? '主要诊断' : '次要诊断') : d.primary ? 'primary' : 'secondary',
            diagnosisTime: dt(v.start),
          },
          person: p.id,
          plants: [mrnPlant],
        });
      }
      for (const l of v.labs) {
        rows.labs.push({
          row: {
            visitId: v.id,
            mrn: reg.mrn,
            localCode: l.def.localCode,
            itemName: zh ? l.def.zh : l.def.en,
            value: l.value,
            unit: l.unit,
            referenceRange: l.refRange,
            abnormalFlag: zh ? { '': '', H: '↑', L: '↓' }[l.flag] : l.flag,
            resultTime: dt(l.time),
            loinc: l.localOnly ? '' : l.def.loinc,
          },
          person: p.id,
          plants: [mrnPlant],
        });
      }
      for (const rx of v.prescriptions) {
        rows.prescriptions.push({
          row: {
            visitId: v.id,
            mrn: reg.mrn,
            drugCode: rx.def.rxnorm,
            drugName: zh ? rx.def.zh : rx.def.en,
            dose: String(rx.def.dose),
            doseUnit: rx.def.doseUnit,
            route: zh ? rx.def.routeZh : rx.def.route,
            frequency: zh ? rx.def.frequencyZh : rx.def.frequency,
            days: String(rx.days),
            prescribingDoctor: rx.doctor,
            orderTime: dt(rx.time),
          },
          person: p.id,
          plants: [mrnPlant, { field: 'prescribingDoctor', value: rx.doctor, type: 'doctor' }],
        });
      }
      for (const note of v.notes) {
        rows.notes.push({
          row: {
            visitId: v.id,
            mrn: reg.mrn,
            noteType: zh
              ? {
                  'discharge-summary': '出院小结',
                  'radiology-report': '影像报告',
                  'chest-pain': '胸痛诊疗记录',
                }[note.type]
              : note.type,
            author: note.author,
            noteTime: dt(note.time),
            text: note.text,
          },
          person: p.id,
          plants: [
            mrnPlant,
            { field: 'author', value: note.author, type: 'doctor' },
            ...note.plants.map((pl) => ({ field: 'text', value: pl.value, type: pl.type })),
          ],
        });
      }
    }
  }

  const breakdown: Record<string, number> = {};
  let total = 0;
  let malformed = 0;
  for (const table of hisLongTables) {
    const tm = mapping.tables[table];
    // An export without this table: its rows have no file to go to.
    if (!tm) continue;
    const headers = Object.keys(tm.columns);
    const file = `${instId}/ehr/his/${tm.file}`;
    const lines = [headers.map((h) => csvCell(h, mapping.delimiter)).join(mapping.delimiter)];
    const fieldToHeader = new Map(Object.entries(tm.columns).map(([h, f]) => [f, h]));
    const list = rows[table];
    // The export job was cut off once: the last lab row lacks its trailing columns.
    const truncateAt = table === 'labs' && list.length > 0 ? list.length - 1 : -1;
    list.forEach((r, i) => {
      let cells = headers.map((h) => csvCell(r.row[tm.columns[h]] ?? '', mapping.delimiter));
      if (i === truncateAt) {
        cells = cells.slice(0, Math.max(2, Math.floor(cells.length / 2)));
        malformed++;
        sink.malformed({
          institution: instId,
          source: 'ehr',
          file,
          record: `${tm.file}#${i + 1}`,
          reason: `row has ${cells.length} of ${headers.length} columns (truncated export)`,
        });
      }
      lines.push(cells.join(mapping.delimiter));
      for (const pl of r.plants) {
        const header = fieldToHeader.get(pl.field);
        if (header && (i !== truncateAt || headers.indexOf(header) < cells.length))
          sink.plant(
            {
              institution: instId,
              source: 'ehr',
              file,
              record: `${tm.file}#${i + 1}`,
              path: header,
              person: r.person,
            },
            pl.value,
            pl.type,
          );
      }
    });
    const text = lines.join('\r\n') + '\r\n';
    const bytes = mapping.encoding === 'gbk' ? iconv.encode(text, 'gbk') : Buffer.from(text, 'utf8');
    sink.write(file, bytes);
    breakdown[table] = list.length;
    total += list.length;
  }
  sink.count({
    institution: instId,
    source: 'ehr',
    format: 'his-csv',
    unit: 'row',
    records: total,
    malformed,
    breakdown,
  });
}
