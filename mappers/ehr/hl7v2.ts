/**
 * HL7 v2.3-2.8 -> FHIR R4. One message is one record: it yields Patient (+Encounter, Observation, DiagnosticReport,
 * ServiceRequest, MedicationRequest, Immunization, DocumentReference, AllergyIntolerance (AL1), Condition (DG1),
 * Procedure (PR1), Coverage (IN1) as its segments allow; NK1 as the patient's contacts, NTE as a note on what it
 * follows; race, ethnicity, marital status and language in the codes FHIR and US Core bind them to) plus a
 * Provenance, or it is rejected whole with an issue naming segment and field. Segments read by none of these
 * (guarantor, scheduling, Z-segments, a comment on a report, which R4 gives no note) are named in one information
 * issue per message: left out, and said.
 */
import { canonicalSystem, quantity } from '../tables/index';
import {
  CN_RESIDENT_ID_SYSTEM,
  SSN_SYSTEM,
  mrnSystem,
  patientStableId,
  stableId,
  stableIdOfKey,
} from '../ids';
import { RecordError, RecordSink } from '../sink';
import { toInstant, tryHl7Date, tryHl7DateTime } from '../time';
import type { FhirResource, MapContext, MapResult } from '../types';
import type { Hl7Message, Segment } from './hl7v2-parse';
import { Hl7Reader, MessageScanner, checkEnvelope, decodeHl7 } from './hl7v2-parse';

type Json = Record<string, unknown>;

const V2_0203 = 'http://terminology.hl7.org/CodeSystem/v2-0203';
const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const INTERPRETATION = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';
const DATA_ABSENT = 'http://terminology.hl7.org/CodeSystem/data-absent-reason';
const V3_MARITAL = 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus';
const V3_NULL_FLAVOR = 'http://terminology.hl7.org/CodeSystem/v3-NullFlavor';
const CDC_RACE = 'urn:oid:2.16.840.1.113883.6.238';
const CDC_CODE = /^\d{4}-\d$/;
const US_CORE_RACE = 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-race';
const US_CORE_ETHNICITY = 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity';
const BCP_47 = 'urn:ietf:bcp:47';
/** The five OMB race categories (US Core's ombCategory); every other CDC race code is a detailed one. */
const OMB_RACE: Record<string, string> = {
  '1002-5': 'American Indian or Alaska Native',
  '2028-9': 'Asian',
  '2054-5': 'Black or African American',
  '2076-8': 'Native Hawaiian or Other Pacific Islander',
  '2106-3': 'White',
};
const OMB_ETHNICITY: Record<string, string> = {
  '2135-2': 'Hispanic or Latino',
  '2186-5': 'Not Hispanic or Latino',
};
/** HL7 table 0189 (ethnic group) in CDC's codes. */
const V2_ETHNICITY: Record<string, string> = { H: '2135-2', N: '2186-5' };
/**
 * HL7 table 0002 in v3 MaritalStatus where they mean the same: v2's A is separated (v3's A is annulled), P and R
 * domestic partners, B unmarried; U unknown is a null flavour. C (common law), G (living together) and O (other) have
 * no v3 code and stay as written.
 */
const MARITAL_STATUS: Record<string, { system: string; code: string; display: string }> = {
  M: { system: V3_MARITAL, code: 'M', display: 'Married' },
  S: { system: V3_MARITAL, code: 'S', display: 'Never Married' },
  D: { system: V3_MARITAL, code: 'D', display: 'Divorced' },
  W: { system: V3_MARITAL, code: 'W', display: 'Widowed' },
  A: { system: V3_MARITAL, code: 'L', display: 'Legally Separated' },
  E: { system: V3_MARITAL, code: 'L', display: 'Legally Separated' },
  N: { system: V3_MARITAL, code: 'A', display: 'Annulled' },
  I: { system: V3_MARITAL, code: 'I', display: 'Interlocutory' },
  P: { system: V3_MARITAL, code: 'T', display: 'Domestic partner' },
  R: { system: V3_MARITAL, code: 'T', display: 'Domestic partner' },
  B: { system: V3_MARITAL, code: 'U', display: 'unmarried' },
  U: { system: V3_NULL_FLAVOR, code: 'UNK', display: 'unknown' },
};
/** ISO 639-2 codes senders use in PID-15 (table 0296), as the two-letter subtag BCP 47 requires for them. */
const ISO_639_2_TO_1: Record<string, string> = {
  eng: 'en',
  spa: 'es',
  zho: 'zh',
  chi: 'zh',
  ara: 'ar',
  fra: 'fr',
  fre: 'fr',
  deu: 'de',
  ger: 'de',
  por: 'pt',
  rus: 'ru',
  vie: 'vi',
  kor: 'ko',
  jpn: 'ja',
  hin: 'hi',
  ita: 'it',
  pol: 'pl',
  tgl: 'tl',
  hat: 'ht',
  fas: 'fa',
  per: 'fa',
  urd: 'ur',
  ben: 'bn',
  pan: 'pa',
  guj: 'gu',
  tam: 'ta',
  tel: 'te',
  som: 'so',
  amh: 'am',
  heb: 'he',
  ell: 'el',
  gre: 'el',
  tur: 'tr',
  ukr: 'uk',
  nld: 'nl',
  dut: 'nl',
  tha: 'th',
  khm: 'km',
  lao: 'lo',
  hmn: 'hmn',
};
const COVERAGE_CLASS = 'http://terminology.hl7.org/CodeSystem/coverage-class';
const SUBSCRIBER_RELATIONSHIP = 'http://terminology.hl7.org/CodeSystem/subscriber-relationship';
/** HL7 table 0063 (relationship) to who the insured is to the patient; everyone else is other. */
const SUBSCRIBER_RELATIONSHIP_OF: Record<string, string> = {
  SEL: 'self',
  SPO: 'spouse',
  DOM: 'common',
  CHD: 'child',
  FCH: 'child',
  SCH: 'child',
  PAR: 'parent',
  MTH: 'parent',
  FTH: 'parent',
};
const ALLERGY_CLINICAL = 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical';
const CONDITION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/condition-category';
/** HL7 table 0127 (allergen type) to AllergyIntolerance.category; miscellaneous types have none. */
const ALLERGY_CATEGORY: Record<string, string> = {
  DA: 'medication',
  FA: 'food',
  EA: 'environment',
  AA: 'environment',
  PA: 'environment',
  LA: 'environment',
};
/** HL7 table 0128 (allergy severity) to criticality, as v2-to-FHIR's ConceptMap has it. */
const ALLERGY_CRITICALITY: Record<string, string> = {
  SV: 'high',
  MO: 'low',
  MI: 'low',
  U: 'unable-to-assess',
};

const CN_RESIDENT_ID = /^\d{17}[\dXx]$/;
const US_SSN = /^\d{3}-?\d{2}-?\d{4}$/;
const MERGE_EVENTS = new Set(['A18', 'A30', 'A34', 'A36', 'A39', 'A40', 'A47']);
const GENDER: Record<string, string> = {
  M: 'male',
  F: 'female',
  O: 'other',
  A: 'other',
  N: 'other',
  U: 'unknown',
};
const NAME_USE: Record<string, string> = {
  L: 'official',
  D: 'usual',
  M: 'maiden',
  N: 'nickname',
  A: 'anonymous',
  S: 'anonymous',
  T: 'temp',
  B: 'old',
  C: 'old',
};
const ADDRESS_USE: Record<string, string> = { H: 'home', B: 'work', O: 'work', C: 'temp', BA: 'old' };
const TELECOM_USE: Record<string, string> = {
  PRN: 'home',
  ORN: 'home',
  WPN: 'work',
  VHN: 'home',
  ASN: 'temp',
  EMR: 'temp',
  PRS: 'mobile',
};
const TELECOM_SYSTEM: Record<string, string> = {
  PH: 'phone',
  CP: 'phone',
  FX: 'fax',
  BP: 'pager',
  Internet: 'email',
  X400: 'email',
  MD: 'other',
  TDD: 'other',
  TTY: 'other',
  SAT: 'phone',
};
const ENCOUNTER_CLASS: Record<string, [string, string]> = {
  I: ['IMP', 'inpatient encounter'],
  O: ['AMB', 'ambulatory'],
  E: ['EMER', 'emergency'],
  P: ['PRENC', 'pre-admission'],
  R: ['AMB', 'ambulatory'],
  B: ['AMB', 'ambulatory'],
  C: ['AMB', 'ambulatory'],
};
const ENCOUNTER_STATUS: Record<string, string> = {
  A01: 'in-progress',
  A02: 'in-progress',
  A03: 'finished',
  A04: 'arrived',
  A05: 'planned',
  A06: 'in-progress',
  A07: 'in-progress',
  A08: 'in-progress',
  A11: 'cancelled',
  A13: 'in-progress',
  A14: 'planned',
  A27: 'cancelled',
  A38: 'cancelled',
};
const RESULT_STATUS: Record<string, string> = {
  F: 'final',
  P: 'preliminary',
  C: 'corrected',
  X: 'cancelled',
  D: 'entered-in-error',
  W: 'entered-in-error',
  I: 'registered',
  R: 'preliminary',
  S: 'preliminary',
  U: 'final',
  A: 'amended',
};
const REPORT_STATUS: Record<string, string> = {
  F: 'final',
  P: 'preliminary',
  C: 'corrected',
  X: 'cancelled',
  I: 'registered',
  R: 'partial',
  S: 'partial',
  A: 'partial',
  O: 'registered',
};
const ORDER_STATUS: Record<string, string> = {
  NW: 'active',
  OK: 'active',
  SC: 'active',
  XO: 'active',
  CA: 'revoked',
  OC: 'revoked',
  DC: 'revoked',
  OD: 'revoked',
  HD: 'on-hold',
  OH: 'on-hold',
  CM: 'completed',
  RE: 'completed',
};
const MED_STATUS: Record<string, string> = {
  NW: 'active',
  OK: 'active',
  SC: 'active',
  XO: 'active',
  RP: 'active',
  CA: 'cancelled',
  OC: 'cancelled',
  DC: 'stopped',
  OD: 'stopped',
  HD: 'on-hold',
  OH: 'on-hold',
  CM: 'completed',
  RE: 'completed',
};
const DOC_STATUS: Record<string, string> = {
  AU: 'final',
  LA: 'final',
  DI: 'preliminary',
  IP: 'preliminary',
  IN: 'preliminary',
  PA: 'preliminary',
  DO: 'final',
};

/** Map a file (or Kafka message payload) of HL7 v2 messages. */
export function mapHl7v2(bytes: Buffer, ctx: MapContext): MapResult {
  const sink = new RecordSink(ctx);
  const { text, declared, known } = decodeHl7(bytes, ctx.hl7File?.charset);
  if (!known)
    sink.issue('warning', 'not-supported', 'MSH-18', 'character set not recognised; decoded as UTF-8');
  if (text.includes('\uFFFD') && known)
    sink.issue(
      'warning',
      'value',
      'file',
      `bytes not valid in the declared character set (${declared || 'UTF-8 default'}); replaced`,
    );
  // Messages are read one at a time; the first read settles the lines before the first MSH. Lines outside a message
  // can follow only a batch trailer (BTS, FTS); they are rejected after the last message.
  const scanner = new MessageScanner(text, { firstLine: ctx.firstLine, firstMessage: ctx.firstRecord });
  let msg = scanner.next();
  const { orphanLines, badLines } = scanner;
  const leading = orphanLines.length;
  if (leading)
    sink.reject(
      `line ${orphanLines[0]}`,
      `${leading} line(s) before any MSH segment: not an HL7 v2 message`,
      'structure',
    );
  // The bad-line count is known only at the end; its warning goes here, ahead of the messages' issues.
  const badLinesIssueAt = sink.result.issues.length;
  const file = new FileScope(ctx);
  const mapper = new MessageMapper(file, sink);
  const build = (): FhirResource[] => mapper.map();
  // The record's location is built only if it gets an issue: most messages get none.
  const where = (): string => mapper.where();
  for (; msg; msg = scanner.next()) {
    mapper.reset(msg);
    sink.record(where, build);
  }
  if (orphanLines.length > leading)
    sink.reject(
      `line ${orphanLines[leading]}`,
      `${orphanLines.length - leading} line(s) after a batch trailer and outside any message: not an HL7 v2 message`,
      'structure',
    );
  // A batch whose trailer counts other than it holds lost (or gained) messages on the way: say so, by line.
  for (const problem of checkEnvelope(scanner.envelope, {
    firstMessage: ctx.firstRecord,
    ...ctx.hl7File,
  }))
    sink.issue('error', 'incomplete', `line ${problem.line}`, problem.message);
  if (badLines.length) {
    sink.issue(
      'warning',
      'structure',
      `line ${badLines[0]}`,
      `${badLines.length} line(s) are not valid segments (bad segment name); ignored`,
    );
    const issues = sink.result.issues;
    const warning = issues.pop();
    if (warning) issues.splice(badLinesIssueAt, 0, warning);
  }
  return sink.result;
}

/** What is the same for every message of one mapping run: per-institution strings, Patient ids per MRN. */
class FileScope {
  readonly institution: string;
  readonly tz: string;
  readonly mrnSystem: string;
  readonly placerSystem: string;
  readonly fillerSystem: string;
  readonly visitSystem: string;
  readonly documentSystem: string;
  readonly messageSystem: string;
  private readonly patientIds = new Map<string, string>();

  constructor(readonly ctx: MapContext) {
    const inst = ctx.institution;
    this.institution = inst;
    this.tz = ctx.timezone ?? 'UTC';
    this.mrnSystem = mrnSystem(inst);
    this.placerSystem = `urn:tributary:${inst}:placer`;
    this.fillerSystem = `urn:tributary:${inst}:filler`;
    this.visitSystem = `urn:tributary:${inst}:visit`;
    this.documentSystem = `urn:tributary:${inst}:document`;
    this.messageSystem = `urn:tributary:${inst}:hl7v2-message`;
  }

  private readonly codeSystems = new Map<string, string>();
  private readonly idSystems = new Map<string, string>();

  /** canonicalSystem() per coding-system name: a feed names the same few systems in every message. */
  codeSystem(source: string): string | undefined {
    if (!source) return undefined;
    let system = this.codeSystems.get(source);
    if (system === undefined) {
      system = canonicalSystem(source, this.institution);
      if (system !== undefined && this.codeSystems.size < 10_000) this.codeSystems.set(source, system);
    }
    return system;
  }

  /** The system of a PID identifier of a type with no system of its own. */
  idSystem(type: string): string {
    let system = this.idSystems.get(type);
    if (system === undefined) {
      system = `urn:tributary:${this.institution}:id:${type || 'other'}`;
      if (this.idSystems.size < 10_000) this.idSystems.set(type, system);
    }
    return system;
  }

  /** A feed repeats its patients: one hash per MRN per file. */
  patientId(mrn: string): string {
    let id = this.patientIds.get(mrn);
    if (id === undefined) {
      id = patientStableId(this.institution, mrn);
      if (this.patientIds.size < 100_000) this.patientIds.set(mrn, id);
    }
    return id;
  }
}

/** [a, b].filter(Boolean) as an exactly-sized array (filter grows its result to 16 slots, which kept names carry). */
function nonEmpty(a: string, b: string): string[] {
  if (a) return b ? [a, b] : [a];
  return b ? [b] : [];
}

/** Maps one message at a time; reset() points it at the next message (one mapper per file, not per message). */
class MessageMapper {
  private r!: Hl7Reader;
  private msg!: Hl7Message;
  private controlId = '';
  private messageType = '';
  private event = '';
  private patientRef = '';
  private encounterRef: string | undefined;
  private out: FhirResource[] = [];
  private readonly ctx: MapContext;
  private readonly tz: string;

  constructor(
    private readonly file: FileScope,
    private readonly sink: RecordSink,
  ) {
    this.ctx = file.ctx;
    this.tz = file.tz;
  }

  reset(msg: Hl7Message): void {
    this.msg = msg;
    this.patientRef = '';
    this.encounterRef = undefined;
    this.out = [];
    this.messageType = '';
    this.event = '';
    this.controlId = '';
    this.r = new Hl7Reader(msg.delimiters);
  }

  where(): string {
    return `message ${this.msg.ordinal} (line ${this.msg.line})`;
  }

  /** Reads MSH-9 and MSH-10 (inside map(), so a failure there rejects the message as before). */
  private header(): void {
    const r = this.r;
    const msh = this.msg.segments[0];
    const type = r.firstRep(msh.field(9));
    this.messageType = r.text(r.comp(type, 0));
    this.event = r.text(r.comp(type, 1));
    this.controlId = r.first(msh.field(10)) || `${this.ctx.sourceFile}#${this.msg.ordinal}`;
  }

  /** stableId(institution, kind, controlId[, part]). */
  private id(kind: string, part?: number): string {
    const key = `${this.file.institution}|${kind}|${this.controlId}`;
    return stableIdOfKey(part === undefined ? key : `${key}|${part}`);
  }

  private loc(seg: Segment, field?: number): string {
    return field === undefined ? `${seg.name} (line ${seg.line})` : `${seg.name}-${field} (line ${seg.line})`;
  }

  /** FHIR dateTime of a TS field; the error location is built only when the value is refused. */
  private dt(raw: string, seg: Segment, field: number): string {
    const v = tryHl7DateTime(raw, this.tz);
    if (typeof v !== 'string') throw new RecordError(v.error, this.loc(seg, field), 'value');
    return v;
  }

  private date(raw: string, seg: Segment, field: number): string {
    const v = tryHl7Date(raw);
    if (typeof v !== 'string') throw new RecordError(v.error, this.loc(seg, field), 'value');
    return v;
  }

  map(): FhirResource[] {
    this.header();
    const segs = this.msg.segments;
    const msh = segs[0];
    if (!this.messageType) throw new RecordError('MSH-9 message type is empty', 'MSH-9', 'required');
    const recorded = this.r.first(msh.field(7));
    if (!recorded) throw new RecordError('MSH-7 message date/time is empty', 'MSH-7', 'required');
    const recordedDt = tryHl7DateTime(recorded, this.tz);
    if (typeof recordedDt !== 'string') throw new RecordError(recordedDt.error, 'MSH-7', 'value');
    const recordedAt = toInstant(recordedDt);
    let pid: Segment | undefined;
    let secondPid: Segment | undefined;
    let pv1: Segment | undefined;
    for (let i = 1; i < segs.length; i++) {
      const s = segs[i];
      if (s.name === 'PID') {
        if (!pid) pid = s;
        else if (!secondPid) secondPid = s;
      } else if (s.name === 'PV1') pv1 ??= s;
    }
    if (!pid)
      throw new RecordError(
        `${this.messageType}^${this.event} has no PID segment; only patient-bearing messages are mapped`,
        'PID',
        'not-supported',
      );
    this.out.push(this.patient(pid));
    // Merge events (A40 and relatives) may carry several PID/MRG groups: each names one surviving patient.
    if (secondPid) {
      if (MERGE_EVENTS.has(this.event)) {
        const firstRef = this.patientRef;
        for (let i = secondPid.index - 1; i < segs.length; i++)
          if (segs[i].name === 'PID') this.out.push(this.patient(segs[i]));
        this.patientRef = firstRef;
      } else {
        this.sink.issue(
          'warning',
          'not-supported',
          `message ${this.msg.ordinal}:${this.loc(secondPid)}`,
          'more than one PID in a non-merge message; only the first patient is mapped',
        );
      }
    }
    if (pv1) {
      const enc = this.encounter(pv1);
      if (enc) this.out.push(enc);
    }
    this.mapBody();
    const out = this.out;
    const targets: Json[] = new Array(out.length);
    for (let i = 0; i < out.length; i++) targets[i] = { reference: `${out[i].resourceType}/${out[i].id}` };
    out.push({
      resourceType: 'Provenance',
      id: this.id('Provenance'),
      target: targets,
      recorded: recordedAt,
      activity: {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: 'CREATE' }],
      },
      agent: [{ who: { identifier: { system: 'urn:tributary:institution', value: this.file.institution } } }],
      entity: [
        {
          role: 'source',
          what: {
            identifier: { system: this.file.messageSystem, value: this.controlId },
            display: `HL7 v2 ${this.messageType}^${this.event}`,
          },
        },
      ],
    });
    return out;
  }

  // ---- Patient ----

  private patient(pid: Segment): FhirResource {
    const r = this.r;
    const identifiers: Json[] = [];
    let mrn = '';
    // Each repetition split once, PID-3 first, then PID-2 and PID-4 (v2.3 senders).
    const cxFields: number[] = [];
    const cxComps: string[][] = [];
    for (let k = 0; k < 3; k++) {
      const field = k === 0 ? 3 : k === 1 ? 2 : 4;
      for (const x of r.reps(pid.field(field))) {
        cxFields.push(field);
        cxComps.push(r.comps(x));
      }
    }
    // MRN: the first PID-3 repetition typed MR, else the first PID-3 repetition, else PID-2 / PID-4.
    let mrChoice = -1;
    for (let i = 0; i < cxComps.length && mrChoice < 0; i++)
      if (cxFields[i] === 3 && r.text(cxComps[i][4]) === 'MR') mrChoice = i;
    for (let i = 0; i < cxComps.length && mrChoice < 0; i++) if (r.text(cxComps[i][0]) !== '') mrChoice = i;
    let hasSsn = false;
    for (let i = 0; i < cxComps.length; i++) {
      const comps = cxComps[i];
      const value = r.text(comps[0]);
      if (!value) continue;
      const type = r.text(comps[4]);
      let system: string;
      if (i === mrChoice) {
        mrn = value;
        system = this.file.mrnSystem;
      } else if (type === 'SS') system = SSN_SYSTEM;
      else if (type === 'NNCHN' || ((type === 'NI' || type === 'RI') && CN_RESIDENT_ID.test(value)))
        system = CN_RESIDENT_ID_SYSTEM;
      else if ((type === 'NI' || type === 'NNUSA') && US_SSN.test(value)) system = SSN_SYSTEM;
      else system = this.authoritySystem(comps[3]) ?? this.file.idSystem(type);
      if (system === SSN_SYSTEM) hasSsn = true;
      identifiers.push(
        type ? { type: { coding: [{ system: V2_0203, code: type }] }, system, value } : { system, value },
      );
    }
    const ssn = r.first(pid.field(19));
    if (ssn && !hasSsn)
      identifiers.push({
        type: { coding: [{ system: V2_0203, code: 'SS' }] },
        system: SSN_SYSTEM,
        value: ssn,
      });
    if (!mrn)
      throw new RecordError('no patient identifier in PID-3 (or PID-2/PID-4)', this.loc(pid, 3), 'required');
    const id = this.file.patientId(mrn);
    this.patientRef = `Patient/${id}`;
    const patient: FhirResource = { resourceType: 'Patient', id, identifier: identifiers.slice() };
    const names: Json[] = [];
    for (const x of r.reps(pid.field(5))) {
      const n = this.humanName(x);
      if (n) names.push(n);
    }
    if (names.length) patient.name = names.slice();
    const telecom: Json[] = [];
    for (const x of r.reps(pid.field(13))) {
      const t = this.contactPoint(x, 'home');
      if (t) telecom.push(t);
    }
    for (const x of r.reps(pid.field(14))) {
      const t = this.contactPoint(x, 'work');
      if (t) telecom.push(t);
    }
    if (telecom.length) patient.telecom = telecom.slice();
    const gender = r.first(pid.field(8));
    if (gender) patient.gender = GENDER[gender.toUpperCase()] ?? 'unknown';
    const dob = r.first(pid.field(7));
    if (dob) patient.birthDate = this.date(dob.slice(0, 8), pid, 7);
    const addresses: Json[] = [];
    for (const x of r.reps(pid.field(11))) {
      const a = this.address(x);
      if (a) addresses.push(a);
    }
    if (addresses.length) patient.address = addresses.slice();
    const deathTime = r.first(pid.field(29));
    if (deathTime) patient.deceasedDateTime = this.dt(deathTime, pid, 29);
    else if (r.first(pid.field(30)) === 'Y') patient.deceasedBoolean = true;
    this.demographics(pid, patient);
    // The MRG that belongs to this PID is the next one before any later PID (patient merges only).
    if (MERGE_EVENTS.has(this.event)) {
      const segs = this.msg.segments;
      let mrg: Segment | undefined;
      for (let i = pid.index; i < segs.length; i++) {
        const name = segs[i].name;
        if (name === 'MRG') mrg = segs[i];
        if (name === 'MRG' || name === 'PID') break;
      }
      if (mrg) {
        const prior = r
          .reps(mrg.field(1))
          .map((x) => r.text(r.comps(x)[0]))
          .filter(Boolean);
        if (prior.length === 0)
          throw new RecordError(
            'MRG-1 prior patient identifier is empty in a patient merge',
            this.loc(mrg, 1),
            'required',
          );
        patient.link = prior.map((p) => ({
          other: { reference: `Patient/${patientStableId(this.file.institution, p)}` },
          type: 'replaces',
        }));
      }
    }
    return patient;
  }

  private authoritySystem(hd: string | undefined): string | undefined {
    if (!hd) return undefined;
    const subs = this.r.subs(hd).map((s) => this.r.text(s));
    if (subs[1] && subs[2] === 'ISO' && /^\d+(\.\d+)+$/.test(subs[1])) return `urn:oid:${subs[1]}`;
    if (subs[0]) return `urn:tributary:${this.file.institution}:id:${encodeURIComponent(subs[0])}`;
    return undefined;
  }

  /**
   * Race (PID-10) and ethnicity (PID-22) as US Core's extensions when coded in CDC's race and ethnicity codes (HL7
   * tables 0005 and 0189 use them, or H and N), marital status (PID-16) in v3's codes where table 0002 means the same,
   * language (PID-15) as a BCP 47 tag, multiple birth (PID-24, PID-25). A race or ethnicity in other codes is said in
   * an issue, not guessed at.
   */
  private demographics(pid: Segment, patient: FhirResource): void {
    const r = this.r;
    const extension: Json[] = [];
    const race: Json[] = [];
    const raceText: string[] = [];
    for (const x of r.reps(pid.field(10))) {
      const code = r.text(r.comp(x, 0));
      const display = r.text(r.comp(x, 1));
      if (!CDC_CODE.test(code)) {
        if (code) this.unreadDemographic(pid, 10, 'race', 'CDC race code');
        continue;
      }
      const omb = OMB_RACE[code];
      race.push({
        url: omb ? 'ombCategory' : 'detailed',
        valueCoding: { system: CDC_RACE, code, ...(omb || display ? { display: omb ?? display } : {}) },
      });
      raceText.push(omb ?? (display || code));
    }
    if (race.length)
      extension.push({
        url: US_CORE_RACE,
        extension: [...race, { url: 'text', valueString: raceText.join(', ') }],
      });
    const ethnicityRaw = r.firstRep(pid.field(22));
    const ethnicityCode = r.text(r.comp(ethnicityRaw, 0));
    const code = V2_ETHNICITY[ethnicityCode.toUpperCase()] ?? ethnicityCode;
    const ethnicity = OMB_ETHNICITY[code];
    if (ethnicity) {
      extension.push({
        url: US_CORE_ETHNICITY,
        extension: [
          { url: 'ombCategory', valueCoding: { system: CDC_RACE, code, display: ethnicity } },
          { url: 'text', valueString: ethnicity },
        ],
      });
    } else if (ethnicityCode && ethnicityCode.toUpperCase() !== 'U')
      this.unreadDemographic(pid, 22, 'ethnicity', 'CDC ethnicity code (or H, N)');
    if (extension.length) patient.extension = extension;

    const maritalRaw = r.firstRep(pid.field(16));
    const maritalCode = r.text(r.comp(maritalRaw, 0));
    const marital = MARITAL_STATUS[maritalCode.toUpperCase()];
    if (marital) patient.maritalStatus = { coding: [{ ...marital }] };
    else {
      const given = this.codeableConcept(maritalRaw);
      if (given) patient.maritalStatus = given;
    }

    const languageRaw = r.firstRep(pid.field(15));
    const languageCode = r.text(r.comp(languageRaw, 0)).toLowerCase();
    const tag = /^[a-z]{2}(?:-[a-z]{2})?$/.test(languageCode) ? languageCode : ISO_639_2_TO_1[languageCode];
    const languageName = r.text(r.comp(languageRaw, 1));
    if (tag)
      patient.communication = [
        {
          language: {
            coding: [{ system: BCP_47, code: tag }],
            ...(languageName ? { text: languageName } : {}),
          },
        },
      ];
    else {
      const given = this.codeableConcept(languageRaw);
      if (given) patient.communication = [{ language: given }];
    }

    const multiple = r.first(pid.field(24)).toUpperCase();
    const order = Number(r.first(pid.field(25)));
    if (multiple === 'Y' && Number.isInteger(order) && order > 0) patient.multipleBirthInteger = order;
    else if (multiple === 'Y' || multiple === 'N') patient.multipleBirthBoolean = multiple === 'Y';
  }

  private unreadDemographic(pid: Segment, field: number, what: string, expected: string): void {
    this.sink.issue(
      'information',
      'value',
      `message ${this.msg.ordinal}:${this.loc(pid, field)}`,
      `${what} is not a ${expected}: not mapped`,
    );
  }

  private humanName(xpn: string): Json | undefined {
    const r = this.r;
    const c = r.comps(xpn);
    const family = r.text(r.firstSub(c[0]));
    const given = nonEmpty(r.text(c[1]), r.text(c[2]));
    const suffix = nonEmpty(r.text(c[3]), r.text(c[5]));
    const prefix = r.text(c[4]);
    if (!family && given.length === 0) return undefined;
    const name: Json = {};
    const use = NAME_USE[r.text(c[6])];
    if (use) name.use = use;
    if (family) name.family = family;
    if (given.length) name.given = given;
    if (prefix) name.prefix = [prefix];
    if (suffix.length) name.suffix = suffix;
    return name;
  }

  private contactPoint(xtn: string, defaultUse: string): Json | undefined {
    const r = this.r;
    const c = r.comps(xtn);
    const equipment = r.text(c[2]);
    const email = r.text(c[3]);
    const local = r.text(c[6]);
    const value = r.text(c[0]) || (local ? `${r.text(c[5])}${local}` : '') || email;
    if (!value) return undefined;
    const system = email && !r.text(c[0]) ? 'email' : (TELECOM_SYSTEM[equipment] ?? 'phone');
    const use = equipment === 'CP' ? 'mobile' : (TELECOM_USE[r.text(c[1])] ?? defaultUse);
    return { system, value, use };
  }

  private address(xad: string): Json | undefined {
    const r = this.r;
    const c = r.comps(xad);
    const line = nonEmpty(r.text(r.firstSub(c[0])), r.text(c[1]));
    const a: Json = {};
    if (line.length) a.line = line;
    if (r.text(c[2])) a.city = r.text(c[2]).trim();
    if (r.text(c[3])) a.state = r.text(c[3]);
    if (r.text(c[4])) a.postalCode = r.text(c[4]);
    if (r.text(c[5])) a.country = r.text(c[5]);
    const type = r.text(c[6]);
    if (ADDRESS_USE[type]) a.use = ADDRESS_USE[type];
    else if (type === 'M') a.type = 'postal';
    return Object.keys(a).length ? a : undefined;
  }

  // ---- Encounter ----

  private encounter(pv1: Segment): FhirResource | undefined {
    const r = this.r;
    const cls = r.first(pv1.field(2));
    if (!cls || cls === 'N') return undefined;
    const visit = r.first(pv1.field(19));
    const id = visit ? stableId(this.file.institution, 'Encounter', visit) : this.id('Encounter');
    const mapped = ENCOUNTER_CLASS[cls];
    const enc: FhirResource = {
      resourceType: 'Encounter',
      id,
      status: r.first(pv1.field(45)) ? 'finished' : (ENCOUNTER_STATUS[this.event] ?? 'unknown'),
      class: mapped
        ? { system: ACT_CODE, code: mapped[0], display: mapped[1] }
        : { system: 'http://terminology.hl7.org/CodeSystem/v2-0004', code: cls },
      subject: { reference: this.patientRef },
    };
    if (visit) enc.identifier = [{ system: this.file.visitSystem, value: visit }];
    const start = r.first(pv1.field(44));
    const end = r.first(pv1.field(45));
    if (start || end) {
      const period: Json = {};
      if (start) period.start = this.dt(start, pv1, 44);
      if (end) period.end = this.dt(end, pv1, 45);
      enc.period = period;
    }
    this.encounterRef = `Encounter/${id}`;
    return enc;
  }

  // ---- Orders, results, pharmacy, immunization, documents ----

  private mapBody(): void {
    const segs = this.msg.segments;
    let orc: Segment | undefined;
    let report: FhirResource | undefined;
    let order: FhirResource | undefined;
    const isOrder = this.messageType === 'ORM' || this.messageType === 'OML' || this.messageType === 'OMG';
    const isDocument = this.messageType === 'MDM';
    const docParts: { text: string[]; attachments: Json[] } = { text: [], attachments: [] };
    /** What an NTE comments on: the resource of the segment before it that has a note (none for a report). */
    let noteTarget: FhirResource | undefined;
    const unmapped: Segment[] = [];
    const push = (res: FhirResource): FhirResource => {
      this.out.push(res);
      return res;
    };
    for (const seg of segs) {
      switch (seg.name) {
        case 'ORC':
          orc = seg;
          noteTarget = undefined;
          break;
        case 'OBR':
          if (isOrder) {
            order = this.serviceRequest(seg, orc);
            noteTarget = push(order);
          } else if (!isDocument) {
            report = this.diagnosticReport(seg);
            this.out.push(report);
            // R4's DiagnosticReport has no note: a comment on the report is reported as not mapped.
            noteTarget = undefined;
          }
          break;
        case 'OBX':
          if (isDocument) this.collectDocumentPart(seg, docParts);
          else noteTarget = this.observation(seg, report);
          break;
        case 'RXE':
          noteTarget = push(this.medicationRequest(seg, orc));
          break;
        case 'RXA':
          noteTarget = push(this.immunization(seg));
          break;
        case 'AL1':
          noteTarget = push(this.allergyIntolerance(seg));
          break;
        case 'DG1':
          noteTarget = push(this.condition(seg));
          break;
        case 'PR1':
          noteTarget = push(this.procedure(seg));
          break;
        case 'IN1': {
          const coverage = this.coverage(seg);
          if (coverage) this.out.push(coverage);
          else unmapped.push(seg);
          noteTarget = undefined;
          break;
        }
        case 'NK1':
          noteTarget = undefined;
          if (!this.contact(seg)) unmapped.push(seg);
          break;
        case 'NTE':
          if (!this.note(seg, noteTarget)) unmapped.push(seg);
          break;
        case 'MSH':
        case 'EVN':
        case 'SFT':
        case 'PID':
        case 'MRG':
        case 'PV1':
        case 'TXA':
          noteTarget = undefined;
          break;
        default:
          noteTarget = undefined;
          unmapped.push(seg);
      }
    }
    if (unmapped.length) this.reportUnmapped(unmapped);
    // Arrays grown by push keep spare capacity (16 slots for one element); the kept resources get copies sized to
    // their elements, which is less for the garbage collector to copy and for the result to hold.
    for (const res of this.out) {
      if (res.resourceType !== 'DiagnosticReport') continue;
      if (res.presentedForm) res.presentedForm = (res.presentedForm as Json[]).slice();
      if (res.result) res.result = (res.result as Json[]).slice();
    }
    if (isDocument) {
      const txa = segs.find((s) => s.name === 'TXA');
      if (!txa) throw new RecordError('MDM message has no TXA segment', 'TXA', 'required');
      this.out.push(this.documentReference(txa, docParts));
    }
  }

  private codeableConcept(raw: string | undefined): Json | undefined {
    if (!raw) return undefined;
    const r = this.r;
    const c = r.comps(raw);
    const codings: Json[] = [];
    for (const base of [0, 3]) {
      const code = r.text(c[base]);
      if (!code) continue;
      const coding: Json = { code };
      const system = this.file.codeSystem(r.text(c[base + 2]));
      if (system) coding.system = system;
      const display = r.text(c[base + 1]);
      if (display) coding.display = display;
      codings.push(coding);
    }
    const text = r.text(c[8]) || r.text(c[1]) || r.text(c[4]);
    if (!codings.length && !text) return undefined;
    if (!codings.length) return { text };
    const coding = codings.slice();
    return text ? { coding, text } : { coding };
  }

  private orderIdentifiers(
    orc: Segment | undefined,
    placerField: string | undefined,
    fillerField: string | undefined,
  ): Json[] {
    const ids: Json[] = [];
    const placer = this.r.first(placerField) || this.r.first(orc?.field(2));
    const filler = this.r.first(fillerField) || this.r.first(orc?.field(3));
    if (placer)
      ids.push({
        type: { coding: [{ system: V2_0203, code: 'PLAC' }] },
        system: this.file.placerSystem,
        value: placer,
      });
    if (filler)
      ids.push({
        type: { coding: [{ system: V2_0203, code: 'FILL' }] },
        system: this.file.fillerSystem,
        value: filler,
      });
    return ids.slice();
  }

  private serviceRequest(obr: Segment, orc: Segment | undefined): FhirResource {
    const control = this.r.first(orc?.field(1));
    const sr: FhirResource = {
      resourceType: 'ServiceRequest',
      id: this.id('ServiceRequest', obr.index),
      status: ORDER_STATUS[control] ?? 'active',
      intent: 'order',
      subject: { reference: this.patientRef },
    };
    const ids = this.orderIdentifiers(orc, obr.field(2), obr.field(3));
    if (ids.length) sr.identifier = ids;
    const code = this.codeableConcept(this.r.firstRep(obr.field(4)));
    if (code) sr.code = code;
    if (this.encounterRef) sr.encounter = { reference: this.encounterRef };
    const authored = this.r.first(orc?.field(9));
    if (authored && orc) sr.authoredOn = this.dt(authored, orc, 9);
    return sr;
  }

  private diagnosticReport(obr: Segment): FhirResource {
    const code = this.codeableConcept(this.r.firstRep(obr.field(4)));
    if (!code)
      throw new RecordError('OBR-4 universal service identifier is empty', this.loc(obr, 4), 'required');
    const dr: FhirResource = {
      resourceType: 'DiagnosticReport',
      id: this.id('DiagnosticReport', obr.index),
      status: REPORT_STATUS[this.r.first(obr.field(25))] ?? 'unknown',
      code,
      subject: { reference: this.patientRef },
    };
    const ids = this.orderIdentifiers(undefined, obr.field(2), obr.field(3));
    if (ids.length) dr.identifier = ids;
    if (this.encounterRef) dr.encounter = { reference: this.encounterRef };
    const eff = this.r.first(obr.field(7));
    if (eff) dr.effectiveDateTime = this.dt(eff, obr, 7);
    const issued = this.r.first(obr.field(22));
    if (issued && issued.length >= 12) dr.issued = this.dt(issued, obr, 22);
    return dr;
  }

  /** The Observation of an OBX (undefined for encapsulated data, which goes to the report's presented form). */
  private observation(obx: Segment, report: FhirResource | undefined): FhirResource | undefined {
    const r = this.r;
    const valueType = r.first(obx.field(2));
    // Encapsulated data belongs to the report's presented form; Observation.value cannot hold an Attachment.
    if (valueType === 'ED' && report) {
      const att = this.attachment(obx.field(5), obx);
      if (att) ((report.presentedForm ??= []) as Json[]).push(att);
      return undefined;
    }
    const code = this.codeableConcept(r.firstRep(obx.field(3)));
    if (!code) throw new RecordError('OBX-3 observation identifier is empty', this.loc(obx, 3), 'required');
    const obs: FhirResource = {
      resourceType: 'Observation',
      id: this.id('Observation', obx.index),
      status: RESULT_STATUS[r.first(obx.field(11))] ?? 'unknown',
      code,
      subject: { reference: this.patientRef },
    };
    if (this.encounterRef) obs.encounter = { reference: this.encounterRef };
    const unitRaw = r.firstRep(obx.field(6));
    const unit = r.text(r.comp(unitRaw, 0)) || r.text(r.comp(unitRaw, 1));
    const values = r.reps(obx.field(5)).filter((v) => v !== '' && v !== '""');
    if (values.length === 0) {
      obs.dataAbsentReason = { coding: [{ system: DATA_ABSENT, code: 'unknown' }] };
    } else {
      this.setValue(obs, valueType, values, unit, obx);
    }
    const range = r.text(r.comp(obx.field(7), 0));
    if (range) obs.referenceRange = [this.referenceRange(range, unit)];
    let interpretation: Json[] | undefined;
    for (const x of r.reps(obx.field(8))) {
      const code = r.text(r.comp(x, 0));
      if (code) (interpretation ??= []).push({ coding: [{ system: INTERPRETATION, code }] });
    }
    if (interpretation) obs.interpretation = interpretation.slice();
    const eff = r.first(obx.field(14)) || (report ? undefined : undefined);
    if (eff) obs.effectiveDateTime = this.dt(eff, obx, 14);
    else if (report?.effectiveDateTime) obs.effectiveDateTime = report.effectiveDateTime;
    this.out.push(obs);
    if (report) ((report.result ??= []) as Json[]).push({ reference: `Observation/${obs.id}` });
    return obs;
  }

  private setValue(obs: FhirResource, valueType: string, values: string[], unit: string, obx: Segment): void {
    const r = this.r;
    const first = values[0];
    switch (valueType) {
      case 'NM': {
        const nums = values.map((v) => Number(r.text(v).trim()));
        if (nums.some((n) => !Number.isFinite(n)))
          throw new RecordError('OBX-5 is not a number though OBX-2 is NM', this.loc(obx, 5), 'value');
        // Repeated numeric results keep every value, as components (obs-7: then the Observation has no value itself).
        if (nums.length > 1)
          obs.component = nums.map((n) => ({ code: obs.code, valueQuantity: quantity(n, unit) }));
        else obs.valueQuantity = quantity(nums[0], unit);
        return;
      }
      case 'SN': {
        const c = r.comps(first).map((x) => r.text(x));
        const comparator = c[0];
        const n1 = Number(c[1]);
        if (c[1] && Number.isFinite(n1) && !c[2]) {
          obs.valueQuantity = {
            ...quantity(n1, unit),
            ...(['<', '<=', '>', '>='].includes(comparator) ? { comparator } : {}),
          };
        } else obs.valueString = c.join('');
        return;
      }
      case 'CE':
      case 'CWE':
      case 'CNE':
      case 'CF': {
        const cc = this.codeableConcept(first);
        if (cc) obs.valueCodeableConcept = cc;
        else obs.dataAbsentReason = { coding: [{ system: DATA_ABSENT, code: 'unknown' }] };
        return;
      }
      case 'DT':
      case 'TS':
      case 'DTM':
        obs.valueDateTime = this.dt(r.text(r.comp(first, 0)), obx, 5);
        return;
      case 'RP':
      case 'HD':
      case 'ED':
        obs.valueString = r
          .comps(first)
          .map((x) => r.text(x))
          .filter(Boolean)
          .join(' ');
        return;
      default:
        // ST, TX, FT, TM, unknown: text, repetitions as lines.
        obs.valueString = values.map((v) => r.text(v)).join('\n');
    }
  }

  private referenceRange(range: string, unit: string): Json {
    const m = /^\s*(-?\d+(?:\.\d+)?)\s*-\s*(-?\d+(?:\.\d+)?)\s*$/.exec(range);
    if (m) return { low: quantity(Number(m[1]), unit), high: quantity(Number(m[2]), unit) };
    return { text: range };
  }

  private attachment(raw: string | undefined, seg: Segment): Json | undefined {
    const c = this.r.comps(this.r.firstRep(raw)).map((x) => this.r.text(x));
    // ED: source^type^subtype^encoding^data
    const type = (c[1] || 'application').toLowerCase();
    const sub = (c[2] || 'octet-stream').toLowerCase();
    const encoding = c[3];
    const data = c[4];
    if (!data) return { contentType: `${type}/${sub}` };
    if (encoding === 'Base64' || encoding === 'BASE64') {
      if (!/^[A-Za-z0-9+/=\s]*$/.test(data))
        throw new RecordError('ED data declared Base64 is not Base64', this.loc(seg, 5), 'value');
      return { contentType: `${type}/${sub}`, data: data.replace(/\s+/g, '') };
    }
    return { contentType: `${type}/${sub}`, data: Buffer.from(data, 'utf8').toString('base64') };
  }

  private medicationRequest(rxe: Segment, orc: Segment | undefined): FhirResource {
    const r = this.r;
    const med = this.codeableConcept(r.firstRep(rxe.field(2)));
    if (!med) throw new RecordError('RXE-2 give code is empty', this.loc(rxe, 2), 'required');
    const mr: FhirResource = {
      resourceType: 'MedicationRequest',
      id: this.id('MedicationRequest', rxe.index),
      status: MED_STATUS[r.first(orc?.field(1))] ?? 'unknown',
      intent: 'order',
      medicationCodeableConcept: med,
      subject: { reference: this.patientRef },
    };
    const ids = this.orderIdentifiers(orc, undefined, undefined);
    if (ids.length) mr.identifier = ids;
    if (this.encounterRef) mr.encounter = { reference: this.encounterRef };
    const authored = r.first(orc?.field(9));
    if (authored && orc) mr.authoredOn = this.dt(authored, orc, 9);
    const amount = r.first(rxe.field(3));
    const unitC = r.firstRep(rxe.field(5));
    const dosage: Json = {};
    const instructions = r
      .reps(rxe.field(7))
      .map((x) => r.text(r.comp(x, 1)) || r.text(r.comp(x, 0)))
      .filter(Boolean);
    if (instructions.length) dosage.text = instructions.join('\n');
    if (amount) {
      const n = Number(amount);
      if (!Number.isFinite(n))
        throw new RecordError('RXE-3 give amount is not a number', this.loc(rxe, 3), 'value');
      dosage.doseAndRate = [
        { doseQuantity: quantity(n, r.text(r.comp(unitC, 0)) || r.text(r.comp(unitC, 1))) },
      ];
    }
    if (Object.keys(dosage).length) mr.dosageInstruction = [dosage];
    return mr;
  }

  private immunization(rxa: Segment): FhirResource {
    const r = this.r;
    const vaccine = this.codeableConcept(r.firstRep(rxa.field(5)));
    if (!vaccine) throw new RecordError('RXA-5 administered code is empty', this.loc(rxa, 5), 'required');
    const when = r.first(rxa.field(3));
    if (!when) throw new RecordError('RXA-3 administration date/time is empty', this.loc(rxa, 3), 'required');
    const completion = r.first(rxa.field(20));
    const imm: FhirResource = {
      resourceType: 'Immunization',
      id: this.id('Immunization', rxa.index),
      status: completion === 'RE' || completion === 'NA' ? 'not-done' : 'completed',
      vaccineCode: vaccine,
      patient: { reference: this.patientRef },
      occurrenceDateTime: this.dt(when, rxa, 3),
    };
    if (this.encounterRef) imm.encounter = { reference: this.encounterRef };
    const source = r.first(rxa.field(9));
    if (source) imm.primarySource = source === '00';
    const amount = r.first(rxa.field(6));
    if (amount && amount !== '999') {
      const n = Number(amount);
      if (!Number.isFinite(n))
        throw new RecordError('RXA-6 amount is not a number', this.loc(rxa, 6), 'value');
      const u = r.firstRep(rxa.field(7));
      imm.doseQuantity = quantity(n, r.text(r.comp(u, 0)) || r.text(r.comp(u, 1)));
    }
    const lot = r.first(rxa.field(15));
    if (lot) imm.lotNumber = lot;
    const exp = r.first(rxa.field(16));
    if (exp) imm.expirationDate = this.date(exp.slice(0, 8), rxa, 16);
    return imm;
  }

  // ---- Allergies, diagnoses, procedures, next of kin, notes (ADT and others) ----

  /** AL1 as HL7's v2-to-FHIR map has it: allergen (AL1-3), type, severity, reactions, identification date. */
  private allergyIntolerance(al1: Segment): FhirResource {
    const r = this.r;
    const code = this.codeableConcept(r.firstRep(al1.field(3)));
    if (!code) throw new RecordError('AL1-3 allergen code is empty', this.loc(al1, 3), 'required');
    const ai: FhirResource = {
      resourceType: 'AllergyIntolerance',
      id: this.id('AllergyIntolerance', al1.index),
      // A message's allergy list is the current one (ait-1 wants a clinical status).
      clinicalStatus: { coding: [{ system: ALLERGY_CLINICAL, code: 'active' }] },
      code,
      patient: { reference: this.patientRef },
    };
    const category = ALLERGY_CATEGORY[r.text(r.comp(al1.field(2), 0)).toUpperCase()];
    if (category) ai.category = [category];
    const criticality = ALLERGY_CRITICALITY[r.text(r.comp(al1.field(4), 0)).toUpperCase()];
    if (criticality) ai.criticality = criticality;
    if (this.encounterRef) ai.encounter = { reference: this.encounterRef };
    const reactions = r
      .reps(al1.field(5))
      .map((x) => r.text(r.comp(x, 1)) || r.text(r.comp(x, 0)))
      .filter(Boolean);
    if (reactions.length) ai.reaction = [{ manifestation: reactions.map((text) => ({ text })) }];
    const identified = r.first(al1.field(6));
    if (identified) ai.onsetDateTime = this.dt(identified, al1, 6);
    return ai;
  }

  /** DG1: the diagnosis code (DG1-3, or its description DG1-4 alone), its date (DG1-5), as an encounter diagnosis. */
  private condition(dg1: Segment): FhirResource {
    const r = this.r;
    const code = this.codeWithDescription(dg1, 3, 4, 'diagnosis code');
    const condition: FhirResource = {
      resourceType: 'Condition',
      id: this.id('Condition', dg1.index),
      category: [{ coding: [{ system: CONDITION_CATEGORY, code: 'encounter-diagnosis' }] }],
      code,
      subject: { reference: this.patientRef },
    };
    if (this.encounterRef) condition.encounter = { reference: this.encounterRef };
    const when = r.first(dg1.field(5));
    if (when) condition.onsetDateTime = this.dt(when, dg1, 5);
    return condition;
  }

  /**
   * A coded field with its free-text description beside it (DG1-3/4, PR1-3/4): the code, its text the description
   * when the code has none, or the description alone; required, so a segment with neither is rejected by field.
   */
  private codeWithDescription(seg: Segment, codeField: number, descriptionField: number, what: string): Json {
    const description = this.r.first(seg.field(descriptionField));
    const code =
      this.codeableConcept(this.r.firstRep(seg.field(codeField))) ??
      (description ? { text: description } : undefined);
    if (!code)
      throw new RecordError(
        `${seg.name}-${codeField} ${what} is empty`,
        this.loc(seg, codeField),
        'required',
      );
    if (description && !code.text) code.text = description;
    return code;
  }

  /** PR1: the procedure code (PR1-3, or its description PR1-4 alone) and when it was done (PR1-5). */
  private procedure(pr1: Segment): FhirResource {
    const r = this.r;
    const code = this.codeWithDescription(pr1, 3, 4, 'procedure code');
    const procedure: FhirResource = {
      resourceType: 'Procedure',
      id: this.id('Procedure', pr1.index),
      status: 'completed',
      code,
      subject: { reference: this.patientRef },
    };
    if (this.encounterRef) procedure.encounter = { reference: this.encounterRef };
    const when = r.first(pr1.field(5));
    if (when) procedure.performedDateTime = this.dt(when, pr1, 5);
    return procedure;
  }

  /**
   * IN1 as a Coverage of the message's patient: the payer (IN1-4 name, IN1-3 id), the plan (IN1-2) and its type
   * (IN1-15), the period (IN1-12/13), the policy number (IN1-36) and how the insured is related to the patient
   * (IN1-17). The group number and name (IN1-8/9) are left out: they name the insured's employer's group. Undefined
   * when no payer is named (Coverage.payor is required); the segment is then reported as not mapped.
   */
  private coverage(in1: Segment): FhirResource | undefined {
    const r = this.r;
    const payerName = r.first(in1.field(4));
    const payerId = r.text(r.comp(r.firstRep(in1.field(3)), 0));
    if (!payerName && !payerId) return undefined;
    const payor: Json = {};
    if (payerId) payor.identifier = { system: this.file.idSystem('payer'), value: payerId };
    if (payerName) payor.display = payerName;
    const coverage: FhirResource = {
      resourceType: 'Coverage',
      id: this.id('Coverage', in1.index),
      status: 'active',
      beneficiary: { reference: this.patientRef },
      payor: [payor],
    };
    const policy = r.first(in1.field(36));
    if (policy) coverage.identifier = [{ system: this.file.idSystem('policy'), value: policy }];
    const type = this.codeableConcept(r.firstRep(in1.field(15)));
    if (type) coverage.type = type;
    const plan = r.firstRep(in1.field(2));
    const planId = r.text(r.comp(plan, 0));
    if (planId) {
      const planName = r.text(r.comp(plan, 1));
      coverage.class = [
        {
          type: { coding: [{ system: COVERAGE_CLASS, code: 'plan' }] },
          value: planId,
          ...(planName ? { name: planName } : {}),
        },
      ];
    }
    const start = r.first(in1.field(12));
    const end = r.first(in1.field(13));
    if (start || end)
      coverage.period = {
        ...(start ? { start: this.date(start.slice(0, 8), in1, 12) } : {}),
        ...(end ? { end: this.date(end.slice(0, 8), in1, 13) } : {}),
      };
    const relationship = r.text(r.comp(r.firstRep(in1.field(17)), 0)).toUpperCase();
    if (relationship)
      coverage.relationship = {
        coding: [
          { system: SUBSCRIBER_RELATIONSHIP, code: SUBSCRIBER_RELATIONSHIP_OF[relationship] ?? 'other' },
        ],
      };
    return coverage;
  }

  /**
   * NK1 as a contact of the message's patient: name, relationship, address, phones. False when it names no one and
   * no way to reach them (pat-1 wants a contact's details).
   */
  private contact(nk1: Segment): boolean {
    const r = this.r;
    const patient = this.out.find((res) => `Patient/${res.id}` === this.patientRef);
    if (!patient) return false;
    const contact: Json = {};
    const relationship = [nk1.field(3), nk1.field(7)]
      .map((f) => this.codeableConcept(r.firstRep(f)))
      .filter((c): c is Json => c !== undefined);
    if (relationship.length) contact.relationship = relationship;
    const xpn = r.firstRep(nk1.field(2));
    const name = xpn ? this.humanName(xpn) : undefined;
    if (name) contact.name = name;
    const telecom = [
      ...r.reps(nk1.field(5)).map((x) => this.contactPoint(x, 'home')),
      ...r.reps(nk1.field(6)).map((x) => this.contactPoint(x, 'work')),
    ].filter((t): t is Json => t !== undefined);
    if (telecom.length) contact.telecom = telecom;
    const xad = r.firstRep(nk1.field(4));
    const address = xad ? this.address(xad) : undefined;
    if (address) contact.address = address;
    if (!contact.name && !contact.telecom && !contact.address) return false;
    ((patient.contact ??= []) as Json[]).push(contact);
    return true;
  }

  /** NTE-3 as a note on what it comments on; false when that has no note in R4 (the patient, a report) or it is empty. */
  private note(nte: Segment, target: FhirResource | undefined): boolean {
    const text = this.r
      .reps(nte.field(3))
      .map((x) => this.r.text(x))
      .join('\n')
      .trim();
    if (!target || !text) return false;
    ((target.note ??= []) as Json[]).push({ text });
    return true;
  }

  /**
   * Segments whose content is in no resource (insurance, guarantor, scheduling, Z-segments, a comment on a report):
   * one issue per message names them, so that what was left out is said, not lost silently.
   */
  private reportUnmapped(segs: Segment[]): void {
    const counts = new Map<string, number>();
    for (const s of segs) counts.set(s.name, (counts.get(s.name) ?? 0) + 1);
    const names = [...counts].map(([name, n]) => (n > 1 ? `${name} ×${n}` : name)).join(', ');
    this.sink.issue(
      'information',
      'not-supported',
      `message ${this.msg.ordinal}:${this.loc(segs[0])}`,
      `segments not mapped to FHIR (their content is not in the output): ${names}`,
    );
  }

  private collectDocumentPart(obx: Segment, parts: { text: string[]; attachments: Json[] }): void {
    const valueType = this.r.first(obx.field(2));
    if (valueType === 'ED') {
      const att = this.attachment(obx.field(5), obx);
      if (att) parts.attachments.push(att);
    } else if (valueType === 'TX' || valueType === 'ST' || valueType === 'FT') {
      for (const v of this.r.reps(obx.field(5))) parts.text.push(this.r.text(v));
    }
  }

  private documentReference(txa: Segment, parts: { text: string[]; attachments: Json[] }): FhirResource {
    const r = this.r;
    const content: Json[] = parts.attachments.map((attachment) => ({ attachment }));
    if (parts.text.length)
      content.unshift({
        attachment: {
          contentType: 'text/plain; charset=utf-8',
          data: Buffer.from(parts.text.join('\n'), 'utf8').toString('base64'),
        },
      });
    if (content.length === 0) {
      this.sink.issue(
        'warning',
        'incomplete',
        `message ${this.msg.ordinal}:OBX`,
        'document notification carries no content; DocumentReference has metadata only',
      );
      content.push({ attachment: { contentType: 'text/plain' } });
    }
    const uniqueId = r.first(txa.field(12));
    const doc: FhirResource = {
      resourceType: 'DocumentReference',
      id: uniqueId
        ? stableId(this.file.institution, 'DocumentReference', uniqueId)
        : this.id('DocumentReference'),
      status: r.first(txa.field(19)).toUpperCase().startsWith('CA') ? 'entered-in-error' : 'current',
      subject: { reference: this.patientRef },
      content,
    };
    if (uniqueId) doc.masterIdentifier = { system: this.file.documentSystem, value: uniqueId };
    const docStatus = DOC_STATUS[r.first(txa.field(17))];
    if (docStatus) doc.docStatus = docStatus;
    const type = this.codeableConcept(r.firstRep(txa.field(2)));
    if (type) {
      // TXA-2 values are HL7 table 0270 document types.
      for (const c of (type.coding as Json[] | undefined) ?? [])
        c.system ??= 'http://terminology.hl7.org/CodeSystem/v2-0270';
      doc.type = type;
    }
    const date = r.first(txa.field(6)) || r.first(txa.field(4));
    if (date && date.length >= 12) doc.date = this.dt(date, txa, 6);
    if (this.encounterRef) doc.context = { encounter: [{ reference: this.encounterRef }] };
    return doc;
  }
}
