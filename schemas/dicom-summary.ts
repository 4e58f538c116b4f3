import { z } from 'zod';

/**
 * What the FHIR side needs to know about one DICOM instance: produced by imaging/ from a file's header, consumed by
 * mappers/ to build ImagingStudy. Read from de-identified files, these carry remapped UIDs and pseudonymous ids, so
 * ImagingStudy references stay consistent with the DICOM outputs.
 */
export const dicomSummarySchema = z.object({
  patientId: z.string().optional(),
  /**
   * De-identified instances: the id of the person's Patient at the institution (KeyService.patientId), which
   * ImagingStudy.subject names, and how the pseudonym was linked ('patient-index': to a Patient the EHR published).
   */
  patientResourceId: z.string().optional(),
  linkedBy: z.enum(['patient-id', 'patient-index', 'study-uid']).optional(),
  studyInstanceUid: z.string(),
  studyDate: z.string().optional(),
  studyTime: z.string().optional(),
  studyDescription: z.string().optional(),
  accessionNumber: z.string().optional(),
  seriesInstanceUid: z.string(),
  seriesNumber: z.number().int().optional(),
  seriesDescription: z.string().optional(),
  modality: z.string().optional(),
  bodyPartExamined: z.string().optional(),
  sopInstanceUid: z.string(),
  sopClassUid: z.string(),
  instanceNumber: z.number().int().optional(),
  numberOfFrames: z.number().int().optional(),
  manufacturer: z.string().optional(),
  transferSyntaxUid: z.string().optional(),
});
export type DicomSummary = z.infer<typeof dicomSummarySchema>;
