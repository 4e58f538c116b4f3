/**
 * HIS CSV exports (one file per table: patients, visits, diagnoses, labs, prescriptions, notes) -> Patient,
 * Encounter, Condition, Observation, MedicationRequest, DocumentReference; a wide check-up table (one visit per row,
 * one test result per column) -> Patient, Encounter, an age Observation and one Observation per result given.
 * Headers differ per hospital: the institution's column mapping (config/his-csv/<institution>.json) names them;
 * nothing here knows a header. Files are GBK or UTF-8 per the mapping. One data row is one record; its location is
 * `<file>:line N` (header = line 1).
 */
import { isUtf8 } from 'node:buffer';
import { parse } from 'csv-parse/sync';
import iconv from 'iconv-lite';
import type { HisCheckupTableMapping, HisTable } from '../../schemas/his-csv-mapping';
import { hisLongTables, hisTables } from '../../schemas/his-csv-mapping';
import { CN_RESIDENT_ID_SYSTEM, SSN_SYSTEM, mrnSystem, patientStableId, stableId } from '../ids';
import { RecordError, RecordSink } from '../sink';
import { quantity } from '../tables/index';
import { localDateTime } from '../time';
import type { ColumnMapping, FhirResource, MapContext, MapResult } from '../types';

type Row = Record<string, string>;
type Json = Record<string, unknown>;

const CN_ID = /^\d{17}[\dXx]$/;
const US_SSN = /^\d{3}-?\d{2}-?\d{4}$/;
const CJK_NAME = /^[\u4e00-\u9fff]{2,4}$/;
const V2_0203 = 'http://terminology.hl7.org/CodeSystem/v2-0203';
const LOINC = 'http://loinc.org';
const OBSERVATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
const SEX: Record<string, string> = {
  男: 'male',
  女: 'female',
  M: 'male',
  F: 'female',
  male: 'male',
  female: 'female',
  未知: 'unknown',
  U: 'unknown',
  O: 'other',
};
const VISIT_CLASS: Record<string, [string, string]> = {
  门诊: ['AMB', 'ambulatory'],
  OP: ['AMB', 'ambulatory'],
  住院: ['IMP', 'inpatient encounter'],
  IP: ['IMP', 'inpatient encounter'],
  急诊: ['EMER', 'emergency'],
  ER: ['EMER', 'emergency'],
};
const NOTE_TYPE: Record<string, [string, string]> = {
  出院小结: ['18842-5', 'Discharge summary'],
  'discharge-summary': ['18842-5', 'Discharge summary'],
  影像报告: ['18748-4', 'Diagnostic imaging study'],
  'radiology-report': ['18748-4', 'Diagnostic imaging study'],
  胸痛诊疗记录: ['34117-2', 'History and physical note'],
  'chest-pain': ['34117-2', 'History and physical note'],
};
const FLAG: Record<string, string> = {
  H: 'H',
  '↑': 'H',
  L: 'L',
  '↓': 'L',
  N: 'N',
  A: 'A',
  HH: 'HH',
  LL: 'LL',
};
const DIAGNOSIS_RANK: Record<string, string> = {
  主要诊断: 'primary',
  primary: 'primary',
  次要诊断: 'secondary',
  secondary: 'secondary',
  其他诊断: 'secondary',
};
const RANK_EXTENSION = 'urn:tributary:fhir:StructureDefinition:diagnosis-rank';

/** A date pattern (YYYY, M, MM, D, DD, H, HH, mm, ss) compiled once per file. */
export function compileDatePattern(pattern: string): (cell: string) => number[] | undefined {
  const order: string[] = [];
  const source = pattern.replace(/YYYY|MM|M|DD|D|HH|H|mm|ss|[.*+?^${}()|[\]\\/]/g, (tok) => {
    switch (tok) {
      case 'YYYY':
        order.push('Y');
        return '(\\d{4})';
      case 'MM':
      case 'M':
        order.push('M');
        return tok === 'MM' ? '(\\d{2})' : '(\\d{1,2})';
      case 'DD':
      case 'D':
        order.push('D');
        return tok === 'DD' ? '(\\d{2})' : '(\\d{1,2})';
      case 'HH':
      case 'H':
        order.push('h');
        return tok === 'HH' ? '(\\d{2})' : '(\\d{1,2})';
      case 'mm':
        order.push('m');
        return '(\\d{2})';
      case 'ss':
        order.push('s');
        return '(\\d{2})';
      default:
        return `\\${tok}`;
    }
  });
  const re = new RegExp(`^${source}$`);
  return (cell) => {
    const m = re.exec(cell.trim());
    if (!m) return undefined;
    const v: Record<string, number> = { Y: 0, M: 1, D: 1, h: 0, m: 0, s: 0 };
    order.forEach((k, i) => (v[k] = Number(m[i + 1])));
    if (v.M < 1 || v.M > 12 || v.D < 1 || v.D > 31 || v.h > 23 || v.m > 59 || v.s > 59) return undefined;
    return [v.Y, v.M, v.D, v.h, v.m, v.s];
  };
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** Which table a file is: by the header set (robust to renamed files), else by the mapping's file name. */
function detectTable(mapping: ColumnMapping, header: string[], sourceFile: string): HisTable | undefined {
  const headers = new Set(header);
  for (const t of hisLongTables) {
    const tm = mapping.tables[t];
    if (!tm) continue;
    const cols = Object.keys(tm.columns);
    if (cols.length === headers.size && cols.every((c) => headers.has(c))) return t;
  }
  // A wide export leaves out the columns of tests nobody in it had (the Tianchi test file lacks the train file's
  // glucose): every header must be mapped, with the identifying columns and at least one result among them.
  const wide = mapping.tables.checkups;
  if (
    wide &&
    header.every((h) => Object.hasOwn(wide.columns, h) || Object.hasOwn(wide.results, h)) &&
    header.some((h) => Object.hasOwn(wide.results, h)) &&
    (['mrn', 'checkupDate'] as const).every((f) => header.some((h) => wide.columns[h] === f))
  )
    return 'checkups';
  const base = sourceFile.split(/[\\/]/).pop();
  return hisTables.find((t) => mapping.tables[t]?.file === base);
}

function decode(bytes: Buffer, mapping: ColumnMapping, sink: RecordSink): string {
  let text: string;
  if (mapping.encoding === 'gbk') {
    // A GBK file is almost never valid UTF-8 once it has Chinese text; a valid-UTF-8 file with multi-byte text was
    // exported in the wrong encoding. Decoding it as GBK would corrupt every cell silently.
    if (isUtf8(bytes) && bytes.some((b) => b >= 0x80)) {
      sink.issue('warning', 'value', 'file', 'mapping says GBK but the file is UTF-8; decoded as UTF-8');
      text = bytes.toString('utf8');
    } else text = iconv.decode(bytes, 'gb18030');
  } else {
    text = bytes.toString('utf8');
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  return text;
}

export function mapHisCsv(bytes: Buffer, ctx: MapContext): MapResult {
  const sink = new RecordSink(ctx);
  const mapping = ctx.columnMapping;
  if (!mapping) {
    sink.reject(
      'file',
      `no HIS CSV column mapping for institution (config/his-csv/<institution>.json)`,
      'required',
    );
    return sink.result;
  }
  const text = decode(bytes, mapping, sink);
  let rows: { record: string[]; raw: string }[];
  try {
    rows = parse(text, {
      delimiter: mapping.delimiter,
      relax_column_count: true,
      raw: true,
      skip_empty_lines: false,
    }) as unknown as typeof rows;
  } catch (e) {
    const line = (e as { lines?: number }).lines;
    // In a piece of a larger file, past its header line: counted in the file.
    const inFile = line && ctx.firstLine !== undefined && line > 1 ? line + ctx.firstLine - 2 : line;
    sink.reject(
      inFile ? `line ${inFile}` : 'file',
      'CSV cannot be parsed (unbalanced quotes or bad delimiter)',
      'structure',
    );
    return sink.result;
  }
  if (rows.length === 0) return sink.result;
  const header = rows[0].record.map((h) => h.trim());
  const table = detectTable(mapping, header, ctx.sourceFile);
  if (!table) {
    sink.reject('line 1', 'header does not match any table of the institution column mapping', 'structure');
    return sink.result;
  }
  const tm = mapping.tables[table];
  const columns = tm?.columns ?? {};
  const results = table === 'checkups' ? mapping.tables.checkups?.results : undefined;
  const fieldAt = header.map((h) => (Object.hasOwn(columns, h) ? columns[h] : undefined));
  const unmappedHeaders = header.filter(
    (h) => !Object.hasOwn(columns, h) && !(results && Object.hasOwn(results, h)),
  ).length;
  if (unmappedHeaders)
    sink.issue(
      'warning',
      'incomplete',
      'line 1',
      `${unmappedHeaders} column(s) not in the mapping are ignored`,
    );
  const mapper = new RowMapper(ctx, mapping, table, header);
  // Lines as an editor counts them: a record takes one line plus the line breaks quoted inside it (csv-parse's own
  // count takes a quoted CRLF for two). A piece of a larger file (ctx.firstLine) starts its rows at that line.
  const linesOf = (raw: string) => {
    let n = 1;
    for (let at = raw.indexOf('\n'); at >= 0; at = raw.indexOf('\n', at + 1)) n++;
    return n;
  };
  let next = ctx.firstLine ?? 1 + linesOf(rows[0].raw);
  for (let i = 1; i < rows.length; i++) {
    const startLine = next;
    next += linesOf(rows[i].raw);
    const cells = rows[i].record;
    if (cells.length === 1 && cells[0].trim() === '') continue;
    const where = `line ${startLine}`;
    if (cells.length !== header.length) {
      sink.reject(where, `row has ${cells.length} of ${header.length} columns`, 'structure');
      continue;
    }
    const row: Row = {};
    for (let c = 0; c < cells.length; c++) {
      const field = fieldAt[c];
      if (field) row[field] = cells[c].trim();
    }
    sink.record(where, () => {
      if (cells.some((c) => c.includes('\uFFFD')))
        throw new RecordError(`cell bytes are not valid ${mapping.encoding}`, where, 'value');
      return mapper.map(row, cells, (field, message) =>
        sink.issue('warning', 'value', `${where}:${field}`, message),
      );
    });
  }
  return sink.result;
}

/** A warning about a record that is still mapped: its field and a value-free reason. */
type Warn = (field: string, message: string) => void;

/** A result column of a check-up file, where it is and what it holds. */
interface ResultColumn {
  at: number;
  header: string;
  spec: HisCheckupTableMapping['results'][string];
}

class RowMapper {
  private readonly dateTime: (cell: string) => number[] | undefined;
  private readonly dateOnly: (cell: string) => number[] | undefined;
  private readonly tz: string;
  private readonly checkups?: HisCheckupTableMapping;
  private readonly resultColumns: ResultColumn[] = [];
  /** The Patient comes from the patients table when the export has one; a check-up row knows only MRN and sex. */
  private readonly checkupPatients: boolean;

  constructor(
    private readonly ctx: MapContext,
    mapping: ColumnMapping,
    private readonly table: HisTable,
    private readonly header: string[],
  ) {
    this.dateTime = compileDatePattern(mapping.dateFormat);
    this.dateOnly = compileDatePattern(mapping.dateOnlyFormat);
    this.tz = ctx.timezone ?? 'UTC';
    this.checkupPatients = !mapping.tables.patients;
    if (table === 'checkups' && mapping.tables.checkups) {
      const checkups = mapping.tables.checkups;
      this.checkups = checkups;
      header.forEach((h, at) => {
        if (Object.hasOwn(checkups.results, h))
          this.resultColumns.push({ at, header: h, spec: checkups.results[h] });
      });
    }
  }

  private required(row: Row, field: string): string {
    const v = row[field];
    if (!v) throw new RecordError(`${field} is empty`, field, 'required');
    return v;
  }

  private when(row: Row, field: string): string {
    const v = this.dateTime(this.required(row, field));
    if (!v) throw new RecordError('date/time does not match the mapping dateFormat', field, 'value');
    return localDateTime(v[0], v[1], v[2], v[3], v[4], v[5], this.tz);
  }

  /** A date-only cell as a FHIR date; `what` names it in the error. */
  private day(cell: string, field: string, what: string): string {
    const d = this.dateOnly(cell);
    if (!d) throw new RecordError(`${what} does not match the mapping dateOnlyFormat`, field, 'value');
    return `${d[0]}-${pad(d[1])}-${pad(d[2])}`;
  }

  /** The header a field is read from, for messages that must point at a column without quoting its cell. */
  private headerOf(field: string): string {
    const columns = this.checkups?.columns ?? {};
    return this.header.find((h) => columns[h] === field) ?? field;
  }

  private patientRef(row: Row): Json {
    return { reference: `Patient/${patientStableId(this.ctx.institution, this.required(row, 'mrn'))}` };
  }

  private encounterRef(row: Row): Json | undefined {
    return row.visitId
      ? { reference: `Encounter/${stableId(this.ctx.institution, 'Encounter', row.visitId)}` }
      : undefined;
  }

  private rowId(kind: string, row: Row, ...parts: string[]): string {
    return stableId(this.ctx.institution, kind, row.mrn ?? '', row.visitId ?? '', ...parts);
  }

  map(row: Row, cells: string[], warn: Warn): FhirResource[] {
    switch (this.table) {
      case 'patients':
        return [this.patient(row)];
      case 'visits':
        return [this.encounter(row)];
      case 'diagnoses':
        return [this.condition(row)];
      case 'labs':
        return [this.observation(row)];
      case 'prescriptions':
        return [this.medicationRequest(row)];
      case 'notes':
        return [this.documentReference(row)];
      case 'checkups':
        return this.checkup(row, cells, warn);
    }
  }

  private patient(row: Row): FhirResource {
    const mrn = this.required(row, 'mrn');
    const identifier: Json[] = [
      {
        type: { coding: [{ system: V2_0203, code: 'MR' }] },
        system: mrnSystem(this.ctx.institution),
        value: mrn,
      },
    ];
    const nid = row.nationalId?.replace(/\s+/g, '');
    if (nid) {
      if (CN_ID.test(nid))
        identifier.push({
          type: { coding: [{ system: V2_0203, code: 'NI' }] },
          system: CN_RESIDENT_ID_SYSTEM,
          value: nid.toUpperCase(),
        });
      else if (US_SSN.test(nid))
        identifier.push({
          type: { coding: [{ system: V2_0203, code: 'SS' }] },
          system: SSN_SYSTEM,
          value: nid,
        });
      else
        throw new RecordError(
          'national ID is neither an 18-character resident ID nor an SSN',
          'nationalId',
          'value',
        );
    }
    if (row.insuranceId)
      identifier.push({
        system: `urn:tributary:${this.ctx.institution}:insurance-id`,
        value: row.insuranceId,
      });
    const p: FhirResource = {
      resourceType: 'Patient',
      id: patientStableId(this.ctx.institution, mrn),
      identifier,
    };
    if (row.name) {
      const compact = row.name.replace(/\s+/g, '');
      // Chinese names: family name first, no space; two-character compound surnames are rare enough to leave in text.
      p.name = [
        CJK_NAME.test(compact)
          ? { text: row.name, family: compact[0], given: [compact.slice(1)] }
          : { text: row.name },
      ];
    }
    if (row.sex) {
      const g = SEX[row.sex];
      if (!g) throw new RecordError('sex is not 男/女/M/F', 'sex', 'value');
      p.gender = g;
    }
    if (row.birthDate) p.birthDate = this.day(row.birthDate, 'birthDate', 'birth date');
    if (row.phone) p.telecom = [{ system: 'phone', value: row.phone }];
    if (row.address) p.address = [{ text: row.address }];
    return p;
  }

  private encounter(row: Row): FhirResource {
    const visitId = this.required(row, 'visitId');
    const type = this.required(row, 'visitType');
    const cls = VISIT_CLASS[type];
    if (!cls) throw new RecordError('visit type is not 门诊/住院/急诊 or OP/IP/ER', 'visitType', 'value');
    const e: FhirResource = {
      resourceType: 'Encounter',
      id: stableId(this.ctx.institution, 'Encounter', visitId),
      identifier: [{ system: `urn:tributary:${this.ctx.institution}:visit`, value: visitId }],
      status: row.dischargeTime ? 'finished' : 'in-progress',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: cls[0], display: cls[1] },
      subject: this.patientRef(row),
    };
    const period: Json = {};
    if (row.admitTime) period.start = this.when(row, 'admitTime');
    if (row.dischargeTime) period.end = this.when(row, 'dischargeTime');
    if (Object.keys(period).length) e.period = period;
    if (row.department) e.serviceType = { text: row.department };
    if (row.attendingDoctor) e.participant = [{ individual: { display: row.attendingDoctor } }];
    return e;
  }

  private condition(row: Row): FhirResource {
    const name = row.diagnosisName;
    const icd = row.icd10;
    if (!name && !icd)
      throw new RecordError('neither ICD-10 code nor diagnosis name is given', 'icd10', 'required');
    const code: Json = {};
    if (icd) code.coding = [{ system: 'http://hl7.org/fhir/sid/icd-10', code: icd }];
    if (name) code.text = name;
    const c: FhirResource = {
      resourceType: 'Condition',
      id: this.rowId('Condition', row, icd ?? '', name ?? '', row.diagnosisTime ?? ''),
      verificationStatus: {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'confirmed' }],
      },
      category: [
        {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/condition-category',
              code: 'encounter-diagnosis',
            },
          ],
        },
      ],
      code,
      subject: this.patientRef(row),
    };
    const enc = this.encounterRef(row);
    if (enc) c.encounter = enc;
    if (row.diagnosisTime) c.recordedDate = this.when(row, 'diagnosisTime');
    const rank = row.diagnosisType ? DIAGNOSIS_RANK[row.diagnosisType] : undefined;
    if (rank) c.extension = [{ url: RANK_EXTENSION, valueCode: rank }];
    return c;
  }

  /** A laboratory Observation of a hospital-coded test, up to its subject; callers add the rest. */
  private labObservation(
    row: Row,
    id: string,
    test: { local: string; name?: string; loinc?: string },
  ): FhirResource {
    const coding: Json[] = [];
    if (test.loinc) coding.push({ system: LOINC, code: test.loinc });
    coding.push({
      system: `urn:tributary:${this.ctx.institution}:lab-codes`,
      code: test.local,
      ...(test.name ? { display: test.name } : {}),
    });
    return {
      resourceType: 'Observation',
      id,
      status: 'final',
      category: [{ coding: [{ system: OBSERVATION_CATEGORY, code: 'laboratory' }] }],
      code: { coding, ...(test.name ? { text: test.name } : {}) },
      subject: this.patientRef(row),
    };
  }

  /** A result cell as valueQuantity (numbers, with a comparator such as `<0.5`), else as text. */
  private labValue(o: FhirResource, raw: string, unit: string | undefined): void {
    const m = /^\s*(<=|>=|<|>)?\s*(-?\d+(?:\.\d+)?)\s*$/.exec(raw);
    if (m) {
      o.valueQuantity = { ...quantity(Number(m[2]), unit), ...(m[1] ? { comparator: m[1] } : {}) };
    } else if (raw) o.valueString = raw;
    else
      o.dataAbsentReason = {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code: 'unknown' }],
      };
  }

  private observation(row: Row): FhirResource {
    const local = this.required(row, 'localCode');
    const o = this.labObservation(row, this.rowId('Observation', row, local, row.resultTime ?? ''), {
      local,
      name: row.itemName || undefined,
      loinc: row.loinc || undefined,
    });
    const enc = this.encounterRef(row);
    if (enc) o.encounter = enc;
    if (row.resultTime) o.effectiveDateTime = this.when(row, 'resultTime');
    const unit = row.unit || undefined;
    this.labValue(o, row.value ?? '', unit);
    if (row.referenceRange) {
      const r = /^\s*(-?\d+(?:\.\d+)?)\s*[-~～]\s*(-?\d+(?:\.\d+)?)\s*$/.exec(row.referenceRange);
      o.referenceRange = [
        r
          ? { low: quantity(Number(r[1]), unit), high: quantity(Number(r[2]), unit) }
          : { text: row.referenceRange },
      ];
    }
    const flag = row.abnormalFlag ? FLAG[row.abnormalFlag] : undefined;
    if (flag)
      o.interpretation = [
        {
          coding: [
            { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: flag },
          ],
        },
      ];
    return o;
  }

  private medicationRequest(row: Row): FhirResource {
    const drugName = row.drugName;
    const drugCode = row.drugCode;
    if (!drugName && !drugCode)
      throw new RecordError('neither drug code nor drug name is given', 'drugCode', 'required');
    const med: Json = {};
    if (drugCode)
      med.coding = [
        {
          system: `urn:tributary:${this.ctx.institution}:drug-codes`,
          code: drugCode,
          ...(drugName ? { display: drugName } : {}),
        },
      ];
    if (drugName) med.text = drugName;
    const mr: FhirResource = {
      resourceType: 'MedicationRequest',
      id: this.rowId('MedicationRequest', row, drugCode ?? '', drugName ?? '', row.orderTime ?? ''),
      status: 'active',
      intent: 'order',
      medicationCodeableConcept: med,
      subject: this.patientRef(row),
    };
    const enc = this.encounterRef(row);
    if (enc) mr.encounter = enc;
    if (row.orderTime) mr.authoredOn = this.when(row, 'orderTime');
    if (row.prescribingDoctor) mr.requester = { display: row.prescribingDoctor };
    const dosage: Json = {};
    const text = [
      row.dose && `${row.dose}${row.doseUnit ?? ''}`,
      row.route,
      row.frequency,
      row.days && `${row.days}d`,
    ]
      .filter(Boolean)
      .join(' ');
    if (text) dosage.text = text;
    if (row.route) dosage.route = { text: row.route };
    if (row.frequency) dosage.timing = { code: { text: row.frequency } };
    if (row.dose) {
      const n = Number(row.dose);
      if (!Number.isFinite(n)) throw new RecordError('dose is not a number', 'dose', 'value');
      dosage.doseAndRate = [{ doseQuantity: quantity(n, row.doseUnit || undefined) }];
    }
    if (Object.keys(dosage).length) mr.dosageInstruction = [dosage];
    if (row.days) {
      const d = Number(row.days);
      if (!Number.isInteger(d) || d < 0) throw new RecordError('days is not a whole number', 'days', 'value');
      mr.dispenseRequest = {
        expectedSupplyDuration: { value: d, unit: 'd', system: 'http://unitsofmeasure.org', code: 'd' },
      };
    }
    return mr;
  }

  private documentReference(row: Row): FhirResource {
    const text = this.required(row, 'text');
    const type = row.noteType ? NOTE_TYPE[row.noteType] : undefined;
    const d: FhirResource = {
      resourceType: 'DocumentReference',
      id: this.rowId('DocumentReference', row, row.noteType ?? '', row.noteTime ?? ''),
      status: 'current',
      subject: this.patientRef(row),
      content: [
        {
          attachment: {
            contentType: 'text/plain; charset=utf-8',
            data: Buffer.from(text, 'utf8').toString('base64'),
          },
        },
      ],
    };
    if (type)
      d.type = {
        coding: [{ system: 'http://loinc.org', code: type[0], display: type[1] }],
        text: row.noteType,
      };
    else if (row.noteType) d.type = { text: row.noteType };
    if (row.noteTime) d.date = this.when(row, 'noteTime');
    if (row.author) d.author = [{ display: row.author }];
    const enc = this.encounterRef(row);
    if (enc) d.context = { encounter: [enc] };
    return d;
  }

  /**
   * One check-up visit: who (MRN, sex), how old on the day, and every test result given. Age is carried as measured
   * (ages of 90 and over are top-coded by the de-identifier, not here). Nothing is invented for what the file lacks:
   * no name, no birth date, no Observation for an empty cell (a test not done).
   */
  private checkup(row: Row, cells: string[], warn: Warn): FhirResource[] {
    const mrn = this.required(row, 'mrn');
    const date = this.day(this.required(row, 'checkupDate'), 'checkupDate', 'check-up date');
    let age: number | undefined;
    if (row.age) {
      if (!/^\d+(\.\d+)?$/.test(row.age))
        throw new RecordError('age is not a number of years (0 or more)', 'age', 'value');
      age = Number(row.age);
    }
    const out: FhirResource[] = [];
    if (this.checkupPatients) {
      const p = this.patient({ mrn });
      if (row.sex) {
        const g = SEX[row.sex];
        // The row's results are worth more than its sex: keep them and say which cell was not understood.
        if (!g)
          warn('sex', `sex in column "${this.headerOf('sex')}" is not 男/女/M/F; gender set to unknown`);
        p.gender = g ?? 'unknown';
      }
      out.push(p);
    }
    const encounterId = row.visitId
      ? stableId(this.ctx.institution, 'Encounter', row.visitId)
      : this.rowId('Encounter', row, 'checkup', date);
    const cls = VISIT_CLASS['门诊'];
    out.push({
      resourceType: 'Encounter',
      id: encounterId,
      ...(row.visitId
        ? { identifier: [{ system: `urn:tributary:${this.ctx.institution}:visit`, value: row.visitId }] }
        : {}),
      status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: cls[0], display: cls[1] },
      type: [{ text: this.checkups?.encounterType ?? 'health check-up' }],
      subject: this.patientRef(row),
      period: { start: date },
    });
    const encounter = { reference: `Encounter/${encounterId}` };
    if (age !== undefined)
      out.push({
        resourceType: 'Observation',
        // (date, 'age'), not (code, date) as a result's: no local code can give the age Observation's id.
        id: this.rowId('Observation', row, date, 'age'),
        status: 'final',
        category: [{ coding: [{ system: OBSERVATION_CATEGORY, code: 'survey' }] }],
        code: { coding: [{ system: LOINC, code: '30525-0', display: 'Age' }], text: 'Age' },
        subject: this.patientRef(row),
        encounter,
        effectiveDateTime: date,
        valueQuantity: quantity(age, 'a'),
      });
    for (const { at, header, spec } of this.resultColumns) {
      const raw = cells[at].trim();
      if (!raw) continue;
      const o = this.labObservation(row, this.rowId('Observation', row, spec.code, date), {
        local: spec.code,
        name: spec.display ?? header,
        loinc: spec.loinc,
      });
      o.encounter = encounter;
      o.effectiveDateTime = date;
      this.labValue(o, raw, spec.unit);
      out.push(o);
    }
    return out;
  }
}
