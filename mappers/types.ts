import type { Hl7FileState } from './file-pieces';
import type { OperationOutcomeIssue } from '../platform/errors';
import type { HisCsvMapping } from '../schemas/his-csv-mapping';

/**
 * The mapper contract. Types only, so every format module and every caller (activities, CLI, bench) shares one
 * definition.
 */

/** A FHIR R4 resource as plain JSON. Structure is checked by validateFhirResource, not by the type system. */
export interface FhirResource {
  resourceType: string;
  id?: string;
  [key: string]: unknown;
}

export const sourceFormats = [
  'hl7v2',
  'fhir',
  'his-csv',
  'openmhealth',
  'apple-health',
  'vendor-wearable',
  'spl',
  'openfda',
  'cn-label',
  'nrdl',
  'pdex-formulary',
] as const;
export type SourceFormat = (typeof sourceFormats)[number];

/** Per-institution HIS CSV layout (config/his-csv/<institution>.json, schema in schemas/his-csv-mapping.ts). */
export type ColumnMapping = HisCsvMapping;

export interface MapContext {
  /** Institution id (schemas/institution.ts); part of every stable id and identifier system. */
  institution: string;
  /** Name of the input as callers know it; goes into issue locations and Provenance (never file contents). */
  sourceFile: string;
  columnMapping?: ColumnMapping;
  /** IANA zone for local date-times without an offset (HL7 v2 TS, CSV dates, Apple Health has offsets). */
  timezone?: string;
  /** Wearable high-frequency series: true = SampledData per window, false/undefined = windowed summaries. */
  sampledData?: boolean;
  /** Validate every output resource (default true). Off only for benchmarks measuring mapping alone. */
  validate?: boolean;
  /** MRN of the person a wearable export belongs to (Apple Health and Open mHealth files do not name one). */
  subjectMrn?: string;
  /** Wearable aggregation window in seconds (default 3600). */
  windowSeconds?: number;
  /**
   * FHIR inputs: Patient source id -> stable id, shared by the inputs of one run. A Patient's stable id comes from its
   * MRN, which only the Patient resource carries; without this, a reference in another file (`Patient/pt-0001`)
   * would get an id from the source id instead. Filled by indexFhirPatients before mapping and by every Patient mapped.
   */
  patientIds?: Map<string, string>;
  /**
   * A piece of a larger file, with locations counted in the file: FHIR NDJSON (mapFile with a batch handler), the
   * bytes are lines of `sourceFile` from this line on; HIS CSV (a file drop split into pages), the header line, then
   * lines of the file from this line on; HL7 v2 (a file drop split into pages at message starts), lines of the file
   * from this line on; Apple Health, the root element's start tag, then the file's top-level elements from this
   * line on, then the root's end tag.
   */
  firstLine?: number;
  /**
   * A piece of a larger file: the ordinal of its first record in the file. HL7 v2: its first message (locations, ids
   * of messages without MSH-10); Apple Health: its first top-level element (window ids are numbered per piece).
   */
  firstRecord?: number;
  /**
   * A piece of a larger HL7 v2 file: the batch envelope open where it starts and the character set the file's first
   * message declares.
   */
  hl7File?: Hl7FileState;
}

export interface MapResult {
  resources: FhirResource[];
  /** Each issue names its input location (file, line/segment/field or JSON path) and a value-free reason. */
  issues: OperationOutcomeIssue[];
  /** Records seen in the input (HL7 message, FHIR resource, CSV row, data point, XML Record, label, drug...). */
  recordsIn: number;
  /** Records that produced resources. recordsIn === recordsMapped + recordsRejected. */
  recordsMapped: number;
  /** Records that produced no resources; each has at least one error issue naming its location. */
  recordsRejected: number;
}

export type BatchHandler = (batch: MapResult) => Promise<void>;
