import { z } from 'zod';
import { sourceKindSchema } from './institution';

/**
 * The generator's ground truth: every protected value it planted and where, who is who across institutions, and
 * how many records each institution's source holds. De-identification tests check that none of `planted` survives;
 * ingestion tests reconcile their counts against `expected`.
 */
export const phiTypes = [
  'name',
  'national-id',
  'mrn',
  'account',
  'insurance-id',
  'phone',
  'email',
  'address',
  'postal-code',
  'date',
  'birth-date',
  'age-over-89',
  'url',
  'ip',
  'device-serial',
  'hospital',
  'doctor',
  'accession',
  'uid',
] as const;
export const phiTypeSchema = z.enum(phiTypes);
export type PhiType = z.infer<typeof phiTypeSchema>;

export const plantedValueSchema = z.object({
  /** The exact text as written into the output (after any deliberate formatting: spaces, full-width digits). */
  value: z.string().min(1),
  type: phiTypeSchema,
  institution: z.string(),
  source: sourceKindSchema,
  /** Output file relative to the generator's --out folder. */
  file: z.string(),
  /** Which record inside the file: resource id, HL7 message control id, CSV line, DICOM SOP instance, ... */
  record: z.string(),
  /** Where inside the record: JSON path, HL7 segment-field (PID-5), CSV column, DICOM tag (0010,0010), `note`, `pixels`. */
  path: z.string(),
  /** The synthetic person it belongs to. */
  person: z.string(),
});
export type PlantedValue = z.infer<typeof plantedValueSchema>;

export const personSchema = z.object({
  person: z.string(),
  nationalId: z.string().optional(),
  nationalIdType: z.enum(['cn-resident-id', 'us-ssn']).optional(),
  attends: z.array(z.object({ institution: z.string(), mrn: z.string() })).min(1),
});
export type Person = z.infer<typeof personSchema>;

export const expectedCountSchema = z.object({
  institution: z.string(),
  source: sourceKindSchema,
  format: z.string(),
  /** What one record is for this format: `message`, `resource`, `row`, `instance`, `label`, `catalog-item`, ... */
  unit: z.string(),
  /** Records a correct pipeline reads in. */
  records: z.number().int().nonnegative(),
  /** Of those, planted on purpose to be rejected or quarantined (malformed, truncated, wrong encoding). */
  malformed: z.number().int().nonnegative(),
  /** Exact duplicates planted on purpose (same message twice). */
  duplicates: z.number().int().nonnegative().default(0),
  /** `records` split by resource type, table, message type or file (keys per format, see synth/FORMATS.md). */
  breakdown: z.record(z.string(), z.number().int().nonnegative()).optional(),
});
export type ExpectedCount = z.infer<typeof expectedCountSchema>;

/** Text drawn into pixel data (ultrasound cine): where, so image de-identification can be checked. */
export const burnedInTextSchema = z.object({
  institution: z.string(),
  file: z.string(),
  sopInstanceUid: z.string(),
  frames: z.array(z.number().int().nonnegative()),
  box: z.object({
    x: z.number().int(),
    y: z.number().int(),
    width: z.number().int().positive(),
    height: z.number().int().positive(),
  }),
  text: z.string(),
  person: z.string(),
});
export type BurnedInText = z.infer<typeof burnedInTextSchema>;

/** A record planted broken on purpose; a correct pipeline rejects or quarantines it with a reason. */
export const malformedRecordSchema = z.object({
  institution: z.string(),
  source: sourceKindSchema,
  file: z.string(),
  record: z.string(),
  reason: z.string(),
});
export type MalformedRecord = z.infer<typeof malformedRecordSchema>;

export const groundTruthSchema = z.object({
  version: z.literal(1),
  seed: z.string(),
  patientsPerInstitution: z.number().int().positive(),
  institutions: z.array(z.string()),
  persons: z.array(personSchema),
  expected: z.array(expectedCountSchema),
  planted: z.array(plantedValueSchema),
  burnedIn: z.array(burnedInTextSchema).default([]),
  malformedRecords: z.array(malformedRecordSchema).default([]),
});
export type GroundTruth = z.infer<typeof groundTruthSchema>;
