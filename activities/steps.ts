import { mapBuffer, isSourceFormat, validateFhirResource } from '../mappers/index';
import type { FhirResource, MapContext, MapResult } from '../mappers/types';
import { NotSupportedError, type OperationOutcomeIssue } from '../platform/errors';
import type { DicomSummary } from '../schemas/dicom-summary';

/**
 * The libraries the pipeline steps call, behind one interface: activities stay thin I/O wrappers, the in-process
 * bench runs the same steps without Temporal, and a library that has not landed says so (NotSupportedError)
 * instead of being faked.
 */
export interface DeidOutcome {
  outputs: FhirResource[];
  quarantined: { resourceType: string; id?: string; rule: string; path: string; reason: string }[];
}

export type DicomOutcome =
  | { status: 'ok'; bytes: Buffer; summary: DicomSummary }
  | { status: 'quarantined'; reason: string; rule: string };

export interface StepLibrary {
  mapPart(format: string, bytes: Buffer, ctx: MapContext): Promise<MapResult>;
  /** De-identify resources of one institution; linkageFor gives the linkage key of a patient reference. */
  deidentifyResources(resources: FhirResource[], options: { institution: string; linkageFor: (patientRef: string) => string | undefined }): Promise<DeidOutcome>;
  validateResource(resource: FhirResource): OperationOutcomeIssue[];
  deidentifyDicom(bytes: Buffer, options: { institution: string }): Promise<DicomOutcome>;
  denoiseDicom(bytes: Buffer): Promise<Buffer>;
  mapImagingStudies(summaries: DicomSummary[], ctx: MapContext): MapResult;
}

/** The real libraries, as far as they have landed. */
export function createStepLibrary(): StepLibrary {
  return {
    async mapPart(format, bytes, ctx) {
      if (!isSourceFormat(format)) throw new NotSupportedError(`map format ${format}`);
      return mapBuffer(format, bytes, ctx);
    },
    async deidentifyResources() {
      throw new NotSupportedError('FHIR de-identification (deid/index.ts createDeidEngine has not landed)');
    },
    validateResource(resource) {
      return validateFhirResource(resource);
    },
    async deidentifyDicom() {
      throw new NotSupportedError('DICOM de-identification (imaging deidentifyDicom has not landed)');
    },
    async denoiseDicom() {
      throw new NotSupportedError('DICOM denoising (imaging denoiseDicom has not landed)');
    },
    mapImagingStudies() {
      throw new NotSupportedError('mapImagingStudies (mappers) has not landed');
    },
  };
}
