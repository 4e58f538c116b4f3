// Lets timers and I/O callbacks run between slices of work: the Temporal worker's workflow tasks share this event loop.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import {
  createDeidEngine,
  linkageSubjectOf,
  scrubText,
  type DeidEngine,
  type ProfileName,
  type QuarantineEntry,
} from '../deid/index';
import type { KeyService } from '../deid/key-service';
import type { RiskTally } from '../deid/risk';
import { deidentifyDicom } from '../imaging/dicom-deid';
import { loadFrameDecoders } from '../imaging/codecs';
import { denoiseDicom } from '../imaging/denoise';
import {
  isSourceFormat,
  mapBuffer,
  mapImagingStudies,
  validateFhirResource,
  warmUpValidator,
} from '../mappers/index';
import type { FhirResource, MapContext, MapResult } from '../mappers/types';
import { NotSupportedError, type OperationOutcomeIssue } from '../platform/errors';
import type { DicomSummary } from '../schemas/dicom-summary';
import type { Institution, SourceKind } from '../schemas/institution';
import type { StepPool } from './step-pool';

/**
 * The libraries the pipeline steps call, behind one interface: activities stay thin I/O wrappers, the in-process
 * bench runs the same steps without Temporal, and a library that has not landed says so (NotSupportedError)
 * instead of being faked.
 */
export interface DeidOutcome {
  outputs: FhirResource[];
  /** The engine's entries: `index` is the resource's position in the input; resourceType and id are sanitized. */
  quarantined: QuarantineEntry[];
}

export type DicomOutcome =
  | { status: 'ok'; bytes: Buffer; summary: DicomSummary }
  | { status: 'quarantined'; reason: string; rule: string };

export interface PatientLookup {
  linkageFor: (patientRef: string) => string | undefined;
  patientFor: (patientRef: string) => FhirResource | undefined;
  linkageForMrn: (mrn: string) => string | undefined;
}

export interface StepLibrary {
  mapPart(format: string, bytes: Buffer, ctx: MapContext): Promise<MapResult>;
  /** Linkage key and MRN of a raw Patient, for the institution's patient index. */
  linkPatient(patient: FhirResource, institution: Institution): { linkage: string; mrn?: string };
  /**
   * De-identify resources of one institution; Patients of earlier batches come from the institution's patient index,
   * loaded by `patients` when de-identifying in this thread. On a step thread, the thread reads the same index from
   * staging itself (StepThreadKeys), so the batch's Patients must be recorded there first.
   */
  deidentifyResources(
    resources: FhirResource[],
    options: { institution: Institution; source: SourceKind; patients: () => Promise<PatientLookup> },
  ): Promise<DeidOutcome>;
  /** k-anonymity of one institution's share of a release, by its profile's risk settings (k, quasi-identifiers). */
  riskTally(institution: Institution): RiskTally;
  /** FHIR validation issues of each resource, in order. */
  validateResources(resources: FhirResource[]): Promise<OperationOutcomeIssue[][]>;
  deidentifyDicom(
    bytes: Buffer,
    options: { institution: Institution; patients: PatientLookup; where: string },
  ): Promise<DicomOutcome>;
  denoiseDicom(bytes: Buffer, where: string): Promise<Buffer>;
  mapImagingStudies(summaries: DicomSummary[], ctx: MapContext): MapResult;
  /**
   * Load what every call needs once per process (FHIR definitions, de-identification engines) at worker start,
   * instead of inside the first activity, where it blocks the event loop for seconds. `threads: false` leaves the
   * step threads to start on first use (an imaging-only worker never maps or validates a page on them).
   */
  warmUp?(options?: { threads?: boolean }): void | Promise<void>;
  /** Stop what the library started (step threads). */
  close?(): Promise<void>;
}

/**
 * The de-identification profile for a source: drug labels and insurance catalogs describe products and plans, not
 * people, and keep their text (reference-data, which refuses anything about a person); patient data is GB/T 37964 in
 * China, HIPAA Safe Harbor in the US.
 */
export function profileFor(institution: Institution, source?: SourceKind): ProfileName {
  if (source === 'druglabel' || source === 'insurance') return 'reference-data';
  return institution.locale === 'zh-CN' ? 'gbt-37964' : 'safe-harbor';
}

/**
 * The real libraries. With a pool, mapping and validation run on its threads (activities/step-pool.ts), and
 * de-identification too when the pool has the keys; without, in this thread.
 */
export function createStepLibrary(options: { keyService: KeyService; pool?: StepPool }): StepLibrary {
  const { keyService, pool } = options;
  const engines = new Map<ProfileName, DeidEngine>();
  const engineFor = (institution: Institution, source?: SourceKind): DeidEngine =>
    engineOf(profileFor(institution, source));
  const engineOf = (profile: ProfileName): DeidEngine => {
    let engine = engines.get(profile);
    if (!engine) {
      engine = createDeidEngine({ profile, keyService });
      engines.set(profile, engine);
    }
    return engine;
  };

  return {
    async mapPart(format, bytes, ctx) {
      if (!isSourceFormat(format)) throw new NotSupportedError(`map format ${format}`);
      if (pool) return pool.run({ op: 'map', format, bytes, ctx });
      // As from a step thread (JSON text): plain JSON values, what a staged batch read back would hold.
      return JSON.parse(JSON.stringify(await mapBuffer(format, bytes, ctx))) as MapResult;
    },
    linkPatient(patient, institution) {
      const linkage = engineFor(institution).linkageOf(patient, institution.id);
      return { linkage, mrn: linkageSubjectOf(patient, institution.id).mrn };
    },
    async deidentifyResources(resources, options) {
      const { institution, source } = options;
      if (pool?.deidentifies) return pool.run({ op: 'deidentify', institution, source, resources });
      const patients = await options.patients();
      const result = engineFor(institution, source).deidentifyResources(resources, {
        institution: institution.id,
        linkageFor: patients.linkageFor,
        patientFor: patients.patientFor,
      });
      return { outputs: result.outputs, quarantined: result.quarantined };
    },
    riskTally(institution) {
      return engineFor(institution).riskTally();
    },
    async validateResources(resources) {
      if (pool) return pool.run({ op: 'validate', resources });
      const out: OperationOutcomeIssue[][] = [];
      for (const [i, r] of resources.entries()) {
        // In this thread, validation holds the event loop (workflow tasks, heartbeats): let it run between slices.
        if (i > 0 && i % VALIDATE_SLICE === 0) await yieldToEventLoop();
        out.push(validateFhirResource(r));
      }
      return out;
    },
    async deidentifyDicom(bytes, { institution, patients, where }) {
      const result = deidentifyDicom(bytes, {
        decoders: await loadFrameDecoders(),
        keyService,
        institution: institution.id,
        linkageFor: patients.linkageForMrn,
        scrubDescriptor: (text, c) =>
          scrubText(text, {
            keyService,
            linkage: c.linkage,
            identifiers: c.identifiers,
            dateOffsetDays: c.dateOffsetDays,
            locale: institution.locale === 'zh-CN' ? 'zh' : 'en',
          }).text,
        where,
      });
      return result.status === 'ok' ? { status: 'ok', bytes: result.bytes, summary: result.summary } : result;
    },
    async denoiseDicom(bytes, where) {
      return (await denoiseDicom(bytes, { where })).bytes;
    },
    mapImagingStudies(summaries, ctx) {
      return mapImagingStudies(summaries, ctx);
    },
    async warmUp({ threads: startThreads = true } = {}) {
      const threads = startThreads ? pool?.warmUp() : undefined;
      // Also needed with a pool: mapImagingStudies validates in this thread.
      warmUpValidator();
      for (const profile of ['safe-harbor', 'gbt-37964', 'reference-data'] as const) engineOf(profile);
      await threads;
    },
    async close() {
      await pool?.close();
    },
  };
}

/** Resources validated between yields to the event loop when validating in this thread. */
const VALIDATE_SLICE = 200;
