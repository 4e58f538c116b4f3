import type { KeyService } from '../deid/key-service';
import { dicomAgeInYears, SAFE_HARBOR_TOP_AGE } from '../deid/ages';
import { addDays } from '../deid/dates';
import { TributaryError, toError } from '../platform/errors';
import type { DicomSummary } from '../schemas/dicom-summary';
import {
  OPTION_CODES,
  PIPELINE_DEID_OPTIONS,
  compileTable,
  deidOptionNames,
  type Action,
  type CompiledTable,
  type DeidOptionName,
  type DeidOptions,
} from './annex-e';
import { assessBurnedIn, findMaskRule, type MaskRule } from './burned-in';
import { formatTag, isPrivateTag, lookupTag, tagElement } from './dicom-dictionary';
import {
  TEXT_VRS,
  asciiNode,
  decodeText,
  encodeText,
  encodingForCharset,
  findNode,
  padEven,
  readAscii,
  setNode,
  trimValue,
  type DicomNode,
} from './dicom-model';
import { readDicom } from './dicom-read';
import { summarizeNodes } from './dicom-summary';
import { EXPLICIT_VR_LITTLE_ENDIAN, writeDataset } from './dicom-write';
import { decodedPhotometric, type FrameDecoders } from './codecs';
import { canDecode, decodeFrames, maskFrame, readPixelInfo, setNativeFrames } from './pixels';

/**
 * PS3.15 Annex E de-identification of one DICOM instance, driven by Table E.1-1 as data, with the patient's
 * pseudonym and date offset from the one key service (so they match the FHIR side). Fails closed: an image that may
 * carry burned-in text and cannot be cleaned is quarantined, never passed through.
 */

export interface DescriptorScrubContext {
  linkage: string;
  /** The instance's own identifiers (patient name parts, IDs, birth date): removed wherever they appear. */
  identifiers: string[];
  dateOffsetDays: number;
}
export type DescriptorScrubber = (text: string, ctx: DescriptorScrubContext) => string;

export interface DeidentifyDicomContext {
  keyService: KeyService;
  institution: string;
  /** Annex E options; defaults to PIPELINE_DEID_OPTIONS. */
  options?: DeidOptions;
  /** The ingestion workflow's patient index: MRN → linkage key (national-ID linkage across institutions). */
  linkageFor?: (patientId: string) => string | undefined;
  /** Free-text scrubber for Clean Descriptors / Clean Structured Content. Without one, those values are removed. */
  scrubDescriptor?: DescriptorScrubber;
  maskRules?: MaskRule[];
  /**
   * Decoders of JPEG Baseline, JPEG Lossless, JPEG-LS and JPEG 2000 (imaging/codecs.ts, loaded by an async caller): with them, a
   * compressed image with burned-in text is cleaned by its mask rule instead of quarantined as undecodable.
   */
  decoders?: FrameDecoders;
  /** For messages: a file name or staging key, never a patient value. */
  where?: string;
}

export interface DicomDeidReport {
  sourceTransferSyntaxUid: string;
  transferSyntaxUid: string;
  options: DeidOptionName[];
  /** Elements by what happened to them. */
  counts: Record<string, number>;
  /** Every element that was changed or removed: path and action, never a value. */
  elements: { path: string; action: string }[];
  pixels: { status: 'none' | 'unchanged' | 'masked'; reason: string; rule?: string; frames?: number };
  longitudinalTemporalInformation: 'MODIFIED' | 'UNMODIFIED' | 'REMOVED';
  /** What the pseudonym and date offset are keyed on: the MRN, the workflow's patient index, or (no Patient ID) the study. */
  linkedBy: 'patient-id' | 'patient-index' | 'study-uid';
  descriptors:
    'scrubbed' | 'removed: no scrubber given' | 'removed: option off' | 'removed: undecodable character set';
  tableSource: string;
}

export type DeidentifyDicomResult =
  | { status: 'ok'; bytes: Buffer; summary: DicomSummary; report: DicomDeidReport }
  | { status: 'quarantined'; reason: string; rule: string };

const PATIENT_NAME = 'x00100010';
const PATIENT_ID = 'x00100020';
/** UIDs not listed in Table E.1-1 that name classes or syntaxes, not instances: kept. */
const WELL_KNOWN_UID_PREFIX = '1.2.840.10008.';
const IDENTIFIER_TAGS = [
  'x00100010',
  'x00100020',
  'x00101000',
  'x00101001',
  'x00100030',
  'x00080050',
  'x00101040',
  'x00102154',
  'x00101060',
  'x00100050',
];

function quarantine(rule: string, reason: string): DeidentifyDicomResult {
  return { status: 'quarantined', rule, reason };
}

export function deidentifyDicom(bytes: Buffer, ctx: DeidentifyDicomContext): DeidentifyDicomResult {
  const where = ctx.where ?? 'DICOM instance';
  const options = ctx.options ?? PIPELINE_DEID_OPTIONS;
  let parsed;
  try {
    parsed = readDicom(bytes, where);
  } catch (e) {
    return quarantine('unreadable', toError(e).message);
  }
  const nodes = parsed.nodes;
  if (
    !readAscii(nodes, 'x00080018') ||
    !readAscii(nodes, 'x00080016') ||
    !readAscii(nodes, 'x0020000e') ||
    !readAscii(nodes, 'x0020000d')
  ) {
    return quarantine(
      'not-an-instance',
      `${where}: missing one of SOP Instance UID, SOP Class UID, Study or Series Instance UID (0008,0018)/(0008,0016)/(0020,000D)/(0020,000E)`,
    );
  }
  const patientId = readPatientId(nodes);
  const studyUid = readAscii(nodes, 'x0020000d');
  let linkage: string;
  let linkedBy: DicomDeidReport['linkedBy'];
  if (patientId) {
    const indexed = ctx.linkageFor?.(patientId);
    linkage = indexed ?? ctx.keyService.linkageKey({ institution: ctx.institution, mrn: patientId });
    linkedBy = indexed ? 'patient-index' : 'patient-id';
  } else if (studyUid) {
    // No patient to link to: the study stands in, so its instances still share one pseudonym and date offset.
    linkage = ctx.keyService.linkageKey({ institution: ctx.institution, mrn: `study:${studyUid}` });
    linkedBy = 'study-uid';
  } else {
    return quarantine(
      'no-linkage',
      `${where}: neither Patient ID (0010,0020) nor Study Instance UID (0020,000D): cannot choose a pseudonym and date offset`,
    );
  }
  const offset = ctx.keyService.dateOffsetDays(linkage);
  const pseudonym = ctx.keyService.pseudonym(linkage);

  let table: CompiledTable;
  try {
    table = compileTable(options);
  } catch (e) {
    throw new TributaryError(toError(e).message, { code: 'invalid', nonRetryable: true });
  }

  // Pixels first: a file that cannot be cleaned is quarantined before any work on its header.
  let transferSyntaxUid = parsed.transferSyntaxUid;
  let pixels: DicomDeidReport['pixels'] = { status: 'none', reason: 'no pixel data' };
  const info = readPixelInfo(nodes);
  if (info) {
    const risk = assessBurnedIn(nodes);
    if (!risk.atRisk) pixels = { status: 'unchanged', reason: risk.reason };
    else {
      if (!options.cleanPixelData) {
        return quarantine(
          'burned-in-text',
          `${where}: ${risk.reason}, and the Clean Pixel Data option is off`,
        );
      }
      const rule = findMaskRule(nodes, info, ctx.maskRules);
      if (!rule) {
        return quarantine(
          'burned-in-no-mask-rule',
          `${where}: ${risk.reason}, and no mask rule matches its manufacturer, model, modality and size`,
        );
      }
      if (!canDecode(transferSyntaxUid, info, ctx.decoders)) {
        return quarantine(
          'burned-in-undecodable',
          `${where}: ${risk.reason}, and pixel data in transfer syntax ${transferSyntaxUid} cannot be decoded to clean it`,
        );
      }
      try {
        const frames = decodeFrames(nodes, transferSyntaxUid, info, where, ctx.decoders);
        for (const f of frames) maskFrame(f, info, rule.regions);
        setNativeFrames(nodes, frames, { ...info, photometric: decodedPhotometric(transferSyntaxUid, info) });
      } catch (e) {
        return quarantine('burned-in-undecodable', toError(e).message);
      }
      transferSyntaxUid = EXPLICIT_VR_LITTLE_ENDIAN;
      setNode(nodes, asciiNode('x00280301', 'CS', 'NO'));
      pixels = { status: 'masked', reason: risk.reason, rule: rule.id, frames: info.frames };
    }
  }

  const encoding = encodingForCharset(readAscii(nodes, 'x00080005'));
  const identifiers = collectIdentifiers(nodes, encoding);
  const report: DicomDeidReport = {
    sourceTransferSyntaxUid: parsed.sourceTransferSyntaxUid,
    transferSyntaxUid,
    options: deidOptionNames.filter((o) => options[o]),
    counts: {},
    elements: [],
    pixels,
    longitudinalTemporalInformation: options.retainLongitudinalModified
      ? 'MODIFIED'
      : options.retainLongitudinalFull
        ? 'UNMODIFIED'
        : 'REMOVED',
    descriptors: !options.cleanDescriptors
      ? 'removed: option off'
      : !ctx.scrubDescriptor
        ? 'removed: no scrubber given'
        : encoding
          ? 'scrubbed'
          : 'removed: undecodable character set',
    tableSource: table.source,
    linkedBy,
  };
  const walker = new Walker({
    table,
    options,
    ctx,
    report,
    encoding,
    pseudonym,
    offset,
    linkage,
    identifiers,
  });
  const out = walker.walk(nodes, '');
  addDeidentificationAttributes(out, options, report);

  const written = writeDataset(out, { transferSyntaxUid });
  const summary: DicomSummary = {
    ...summarizeNodes(out, transferSyntaxUid),
    patientResourceId: ctx.keyService.patientId(ctx.institution, linkage),
    linkedBy,
  };
  return { status: 'ok', bytes: written, summary, report };
}

function readPatientId(nodes: DicomNode[]): string | undefined {
  const n = findNode(nodes, PATIENT_ID);
  if (!n?.bytes) return undefined;
  const v = trimValue(n.bytes.toString('latin1'), 'LO');
  return v === '' ? undefined : v;
}

function collectIdentifiers(nodes: DicomNode[], encoding: string | undefined): string[] {
  const out = new Set<string>();
  for (const tag of IDENTIFIER_TAGS) {
    const n = findNode(nodes, tag);
    if (!n?.bytes || n.bytes.length === 0) continue;
    const text = trimValue(encoding ? decodeText(n.bytes, encoding) : n.bytes.toString('latin1'), n.vr);
    for (const v of text.split(/[\\=]/)) {
      const whole = v.replace(/\^+/g, ' ').trim();
      if (whole.length >= 2) out.add(whole);
      for (const part of v.split('^')) if (part.trim().length >= 2) out.add(part.trim());
    }
  }
  return [...out];
}

interface WalkerState {
  table: CompiledTable;
  options: DeidOptions;
  ctx: DeidentifyDicomContext;
  report: DicomDeidReport;
  encoding: string | undefined;
  pseudonym: string;
  offset: number;
  linkage: string;
  identifiers: string[];
}

class Walker {
  constructor(private readonly s: WalkerState) {}

  walk(nodes: DicomNode[], prefix: string): DicomNode[] {
    const out: DicomNode[] = [];
    for (const node of nodes) {
      const path = `${prefix}${formatTag(node.tag)}`;
      const result = this.apply(node, path);
      if (result) out.push(result);
    }
    return out;
  }

  private record(path: string, action: string): void {
    this.s.report.counts[action] = (this.s.report.counts[action] ?? 0) + 1;
    if (action !== 'kept' && action !== 'kept-not-in-table') this.s.report.elements.push({ path, action });
  }

  private apply(node: DicomNode, path: string): DicomNode | undefined {
    const { tag } = node;
    if (tagElement(tag) === 0) {
      this.record(path, 'group-length-dropped');
      return undefined;
    }
    if (isPrivateTag(tag)) {
      // Retain Safe Private needs a list of attributes known to be safe; none is configured, so private data goes.
      this.record(path, 'private-removed');
      return undefined;
    }
    if (tag === PATIENT_NAME || tag === PATIENT_ID) {
      this.record(path, 'pseudonym');
      return { tag, vr: node.vr, bytes: padEven(Buffer.from(this.s.pseudonym, 'latin1'), node.vr) };
    }
    const action = this.s.table.actionFor(tag, node.vr);
    if (action === undefined) return this.applyNotInTable(node, path);
    return this.applyAction(node, path, action);
  }

  /** Public attributes Table E.1-1 does not list: kept (the standard's default), except kinds that can identify. */
  private applyNotInTable(node: DicomNode, path: string): DicomNode | undefined {
    const entry = lookupTag(node.tag);
    if (!entry) {
      this.record(path, 'unknown-removed');
      return undefined;
    }
    if (node.items) return this.recurse(node, path, 'kept-not-in-table');
    switch (node.vr) {
      case 'PN':
        return this.empty(node, path);
      case 'DA':
      case 'DT':
        return this.cleanDate(node, path);
      case 'UI': {
        const value = node.bytes ? trimValue(node.bytes.toString('latin1'), 'UI') : '';
        const classLike =
          /(Class|Syntax|Scheme|Template|Context(Group)?)(UID|Uid)s?$/.test(entry.keyword) ||
          entry.keyword.endsWith('ClassUID');
        if (classLike || value.split('\\').every((v) => v === '' || v.startsWith(WELL_KNOWN_UID_PREFIX))) {
          this.record(path, 'kept-not-in-table');
          return node;
        }
        return this.remapUids(node, path);
      }
      case 'AS':
        return this.topCodeAge(node, path);
      default:
        this.record(path, 'kept-not-in-table');
        return node;
    }
  }

  /**
   * An age kept (Retain Patient Characteristics keeps Patient's Age): HIPAA allows none above 89, so 093Y becomes
   * 090Y, the one class of 90 or older. A value that is not an age string is emptied: it cannot be shown to be under.
   */
  private topCodeAge(node: DicomNode, path: string): DicomNode {
    const values = node.bytes ? trimValue(node.bytes.toString('latin1'), 'AS').split('\\') : [];
    let changed = false;
    const out: string[] = [];
    for (const v of values) {
      if (v.trim() === '') {
        out.push('');
        continue;
      }
      const years = dicomAgeInYears(v);
      if (years === undefined) return this.empty(node, path);
      if (years > SAFE_HARBOR_TOP_AGE) {
        out.push(`${String(SAFE_HARBOR_TOP_AGE + 1).padStart(3, '0')}Y`);
        changed = true;
      } else out.push(v.trim());
    }
    if (!changed) {
      this.record(path, 'kept');
      return node;
    }
    this.record(path, 'age-top-coded');
    return { tag: node.tag, vr: node.vr, bytes: padEven(Buffer.from(out.join('\\'), 'latin1'), 'AS') };
  }

  private applyAction(node: DicomNode, path: string, action: Action): DicomNode | undefined {
    switch (action) {
      case 'X':
        this.record(path, 'removed');
        return undefined;
      case 'Z':
        return this.empty(node, path);
      case 'U':
        return node.items ? this.recurse(node, path, 'kept') : this.remapUids(node, path);
      case 'K':
        if (node.items) return this.recurse(node, path, 'kept');
        if (node.vr === 'AS') return this.topCodeAge(node, path);
        this.record(path, 'kept');
        return node;
      case 'D':
        return this.dummy(node, path);
      case 'C':
        return this.clean(node, path);
    }
  }

  private recurse(node: DicomNode, path: string, action: string): DicomNode {
    this.record(path, action);
    return { ...node, items: (node.items ?? []).map((item, i) => this.walk(item, `${path}[${i}].`)) };
  }

  private empty(node: DicomNode, path: string): DicomNode {
    this.record(path, 'emptied');
    if (node.items) return { tag: node.tag, vr: 'SQ', items: [] };
    return { tag: node.tag, vr: node.vr, bytes: Buffer.alloc(0) };
  }

  private remapUids(node: DicomNode, path: string): DicomNode {
    if (!node.bytes || node.bytes.length === 0) {
      this.record(path, 'kept');
      return node;
    }
    const values = trimValue(node.bytes.toString('latin1'), 'UI').split('\\');
    const mapped = values.map((v) => (v.trim() === '' ? '' : this.s.ctx.keyService.uid(v.trim())));
    this.record(path, 'uid-remapped');
    return {
      tag: node.tag,
      vr: node.vr === 'UN' ? 'UI' : node.vr,
      bytes: padEven(Buffer.from(mapped.join('\\'), 'latin1'), 'UI'),
    };
  }

  private dummy(node: DicomNode, path: string): DicomNode {
    if (node.items) return this.recurse(node, path, 'sequence-cleaned');
    const text = DUMMY_TEXT[node.vr];
    if (node.vr === 'UI') return this.remapUids(node, path);
    this.record(path, 'dummy');
    if (text !== undefined)
      return { tag: node.tag, vr: node.vr, bytes: padEven(Buffer.from(text, 'latin1'), node.vr) };
    // Binary VRs: zeros of the same length keep the value multiplicity.
    return { tag: node.tag, vr: node.vr, bytes: Buffer.alloc(node.bytes?.length ?? 0) };
  }

  private clean(node: DicomNode, path: string): DicomNode | undefined {
    if (node.items) return this.recurse(node, path, 'sequence-cleaned');
    switch (node.vr) {
      case 'DA':
      case 'DT':
        return this.cleanDate(node, path);
      case 'TM':
        // Whole-day shifts leave times of day as they are.
        this.record(path, 'kept');
        return node;
      case 'PN':
        return this.dummy(node, path);
      case 'UI':
        return this.remapUids(node, path);
      case 'OB':
      case 'OW':
      case 'UN':
        // Overlay and curve data would need graphic cleaning; removed instead (fail closed).
        this.record(path, 'removed');
        return undefined;
      default:
        // Free text and coded strings alike: a CS can hold anything a sender typed.
        if (TEXT_VRS.has(node.vr) || node.vr === 'CS' || node.vr === 'AE' || node.vr === 'UR')
          return this.scrub(node, path);
        this.record(path, 'kept');
        return node;
    }
  }

  private scrub(node: DicomNode, path: string): DicomNode | undefined {
    const { ctx, encoding, options } = this.s;
    if (
      !options.cleanDescriptors &&
      !options.cleanStructuredContent &&
      !options.retainPatientCharacteristics
    ) {
      this.record(path, 'removed');
      return undefined;
    }
    if (!ctx.scrubDescriptor || !encoding) {
      this.record(path, 'removed');
      return undefined;
    }
    const text = trimValue(decodeText(node.bytes ?? Buffer.alloc(0), encoding), node.vr);
    const scrubbed = ctx.scrubDescriptor(text, {
      linkage: this.s.linkage,
      identifiers: this.s.identifiers,
      dateOffsetDays: this.s.offset,
    });
    this.record(path, scrubbed === text ? 'scrubbed-unchanged' : 'scrubbed');
    return { tag: node.tag, vr: node.vr, bytes: padEven(encodeText(scrubbed, encoding), node.vr) };
  }

  private cleanDate(node: DicomNode, path: string): DicomNode | undefined {
    const { options } = this.s;
    if (options.retainLongitudinalFull) {
      this.record(path, 'kept');
      return node;
    }
    if (!options.retainLongitudinalModified || !node.bytes) return this.empty(node, path);
    const values = trimValue(node.bytes.toString('latin1'), node.vr).split('\\');
    const shifted = values.map((v) => (v === '' ? '' : shiftDicomDate(v, node.vr, this.s.offset)));
    if (shifted.some((v) => v === undefined)) return this.empty(node, path); // unparseable: cannot shift, so drop the value
    this.record(path, 'date-shifted');
    return { tag: node.tag, vr: node.vr, bytes: padEven(Buffer.from(shifted.join('\\'), 'latin1'), node.vr) };
  }
}

const DUMMY_TEXT: Record<string, string> = {
  PN: 'ANONYMOUS',
  LO: 'ANONYMOUS',
  SH: 'ANONYMOUS',
  LT: 'ANONYMOUS',
  ST: 'ANONYMOUS',
  UT: 'ANONYMOUS',
  UC: 'ANONYMOUS',
  AE: 'ANONYMOUS',
  CS: 'ANONYMOUS',
  UR: '',
  DA: '19000101',
  TM: '000000',
  DT: '19000101000000',
  AS: '000Y',
  DS: '0',
  IS: '0',
};

/** Shift a DA (YYYYMMDD) or the date part of a DT by whole days; undefined when it is not a full date. */
export function shiftDicomDate(value: string, vr: string, days: number): string | undefined {
  const v = value.trim();
  const m = /^(\d{4})(\d{2})(\d{2})(.*)$/.exec(v);
  if (!m) return undefined;
  if (vr === 'DA' && m[4] !== '') return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return undefined;
  const [ny, nm, nd] = addDays(y, mo, d, days);
  return `${String(ny).padStart(4, '0')}${String(nm).padStart(2, '0')}${String(nd).padStart(2, '0')}${m[4]}`;
}

function addDeidentificationAttributes(
  nodes: DicomNode[],
  options: DeidOptions,
  report: DicomDeidReport,
): void {
  const used = ['basic' as const, ...report.options];
  setNode(nodes, asciiNode('x00120062', 'CS', 'YES'));
  setNode(nodes, asciiNode('x00120063', 'LO', 'Tributary: PS3.15 Annex E Table E.1-1'));
  setNode(nodes, {
    tag: 'x00120064',
    vr: 'SQ',
    items: used.map((o) => [
      asciiNode('x00080100', 'SH', OPTION_CODES[o].code),
      asciiNode('x00080102', 'SH', 'DCM'),
      asciiNode('x00080104', 'LO', OPTION_CODES[o].meaning),
    ]),
  });
  setNode(nodes, asciiNode('x00280303', 'CS', report.longitudinalTemporalInformation));
  if (options.cleanPixelData && report.pixels.status === 'masked')
    setNode(nodes, asciiNode('x00280301', 'CS', 'NO'));
}
