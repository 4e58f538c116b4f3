import { z } from 'zod';
import { sourceKindSchema } from './institution';

/** FHIR-API institutions: search paging or Bulk `$export` (activities/connectors.ts). */
export const fhirModeSchema = z.enum(['search', 'bulk']);
export type FhirMode = z.infer<typeof fhirModeSchema>;

/** Imaging: file drops or each PACS by DICOMweb QIDO/WADO (activities/connectors.ts). */
export const imagingModeSchema = z.enum(['files', 'dicomweb']);
export type ImagingMode = z.infer<typeof imagingModeSchema>;

/**
 * Inputs and results of the ingestion workflows and activities. Everything here travels through Temporal, so it is
 * references only: institution ids, source kinds, staging keys, digests, counts, cursors we built. Never a
 * patient value.
 */

export const institutionIdSchema = z.string().regex(/^[a-z][a-z0-9-]{1,31}$/, 'an institution id');

/** Record-level reconciliation: in = published + quarantined + rejected. */
export const sourceCountsSchema = z.object({
  in: z.number().int().nonnegative(),
  published: z.number().int().nonnegative(),
  quarantined: z.number().int().nonnegative(),
  rejected: z.number().int().nonnegative(),
  /** FHIR resources (and DICOM instances) written to the output folder. */
  resourcesPublished: z.number().int().nonnegative(),
  resourcesQuarantined: z.number().int().nonnegative(),
  dicomPublished: z.number().int().nonnegative(),
  workItems: z.number().int().nonnegative(),
  pages: z.number().int().nonnegative(),
  /** Pages that could not be read at all (corrupt file): quarantined whole, records unknown. */
  pagesQuarantined: z.number().int().nonnegative(),
  /**
   * Batches or files whose own counts disagree with what arrived (an HL7 v2 batch or file trailer, a Bulk export
   * manifest's count): records may be missing before they reached Tributary. Absent from counts written before it.
   */
  sourceGaps: z.number().int().nonnegative().optional(),
  /**
   * DICOM instances de-identified before any EHR record of their patient had been ingested: linked by the DICOM
   * Patient ID (or the Study UID), so the person has a pseudonym and date offset of their own there until the study is
   * ingested again after its EHR (deid/README.md, Linkage). Absent from counts written before it.
   */
  imagesWithoutPatient: z.number().int().nonnegative().optional(),
  /**
   * Work items that replaced a queued item of the same id with newer content (a corrected result, a record sent again
   * changed) before any annotator had begun it, or an earlier version in the same batch. Absent from counts written
   * before it.
   */
  itemsUpdated: z.number().int().nonnegative().optional(),
  /**
   * Work items whose id was already queued with other content that could not replace it: an annotator had begun the
   * queued version, or it was received no later. The queued version stands. Absent from counts written before it.
   */
  itemConflicts: z.number().int().nonnegative().optional(),
});
export type SourceCounts = z.infer<typeof sourceCountsSchema>;

/**
 * Sources ingested at the same time. Each source is a child workflow, and between two sources a lane waits on
 * Temporal (the child's start and its first workflow task: ~130 ms on a loaded 2-core worker), so lanes hide that
 * latency; the per-institution rate limiter (connectors.ts), not the lane count, bounds the load on an institution.
 * 16 rather than 8: `bench/e2e-ingest.ts --mode temporal --patients 20`, 4 alternating pairs, 8 vs 16 lanes,
 * +2..+13% records/s with 16 (the main thread went from 82% to 90-93% busy); 32 was no faster than 16.
 */
export const DEFAULT_CONCURRENT_SOURCES = 16;

/** Where a run reads from: a base URL serving `<base>/<institution>/...` (the synth server or a gateway). */
export const ingestRunInputSchema = z.object({
  /** Short label naming the run in workflow ids and output folders, e.g. `20261125t0930z`. */
  runId: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'lower-case letters, digits and dashes'),
  endpoint: z.string().url(),
  institutions: z.array(institutionIdSchema).min(1),
  sources: z.array(sourceKindSchema).min(1),
  /**
   * The kinds each institution sends, of `sources` (the registry's, when the run or schedule was made): a run takes
   * only those. Absent: every institution sends every kind in `sources`.
   */
  institutionSources: z.record(institutionIdSchema, z.array(sourceKindSchema).min(1)).optional(),
  /** Pull only what changed since this instant (ISO 8601); `watermark` uses the last successful run's start. */
  since: z.string().optional(),
  incremental: z.boolean().default(false),
  maxConcurrentSources: z.number().int().min(1).max(200).default(DEFAULT_CONCURRENT_SOURCES),
  pageSize: z.number().int().min(1).max(10_000).default(500),
  /** Also send de-identified output to a FHIR server (transaction bundles) / a research PACS (STOW-RS). */
  fhirServerUrl: z.string().url().optional(),
  stowUrl: z.string().url().optional(),
  /** Started by a Temporal Schedule: each firing's run id gets the start time appended. */
  scheduled: z.boolean().default(false),
  /** Route verified work items to the annotation queues. */
  route: z.boolean().default(true),
  /** Task queue of the pixel activities (tests use their own queues on a shared server). */
  imagingQueue: z.string().min(1).default('imaging'),
  /** Pages per source workflow run before continue-as-new, even if the server has not suggested it yet. */
  maxPagesPerRun: z.number().int().min(1).max(10_000).default(200),
});
export type IngestRunInput = z.infer<typeof ingestRunInputSchema>;

export const ingestSourceInputSchema = z.object({
  runId: z.string(),
  endpoint: z.string(),
  institution: institutionIdSchema,
  source: sourceKindSchema,
  since: z.string().optional(),
  incremental: z.boolean(),
  pageSize: z.number().int(),
  fhirServerUrl: z.string().optional(),
  stowUrl: z.string().optional(),
  route: z.boolean(),
  imagingQueue: z.string().min(1),
  maxPagesPerRun: z.number().int().min(1),
  /** Resume point after continue-as-new: an opaque cursor the connector built (never patient data). */
  cursor: z.string().optional(),
  totals: sourceCountsSchema.optional(),
  /** When this source's pull started (the next watermark); set once, carried across continue-as-new. */
  startedAt: z.string().optional(),
});
export type IngestSourceInput = z.infer<typeof ingestSourceInputSchema>;

export type SourceStatus = 'pending' | 'running' | 'completed' | 'failed';

export interface SourceProgress {
  institution: string;
  source: z.infer<typeof sourceKindSchema>;
  workflowId: string;
  status: SourceStatus;
  counts?: SourceCounts;
  /** Failure type and message (value-free by construction: our errors name where and why). */
  error?: string;
}

/** k-anonymity of one institution's Patients in a run's release (counts only, never a class's values). */
export interface ReleaseRiskSummary {
  /** The smallest class. */
  k: number;
  /** The policy's k: classes below it are the re-identification risk. */
  threshold: number;
  records: number;
  classes: number;
  recordsBelowThreshold: number;
}

/** What pruning preview versions found (activities/previews.ts prunePreviews). */
export interface PrunePreviewsResult {
  /** Version folders some stored item refers to. */
  kept: number;
  /** Version folders no stored item refers to, older than the grace period: removed (or, dry, to be removed). */
  removed: number;
  /** Version folders no stored item refers to yet, younger than the grace period: left alone. */
  recent: number;
  bytesRemoved: number;
}

export interface IngestRunProgress {
  runId: string;
  outputDir?: string;
  /** Per institution, once the run's release is written. */
  risk?: Record<string, ReleaseRiskSummary>;
  /** People published by more than one institution, linked by one pseudonym (see activities/publish.ts ReleaseRisk). */
  linkedPersons?: number;
  /**
   * Preview versions no stored work item refers to any more (a corrected study's old pictures), removed once the run
   * is done: counts, or why pruning failed (the run's outcome does not depend on it).
   */
  previews?: PrunePreviewsResult | { error: string };
  sources: SourceProgress[];
  totals: SourceCounts;
  done: boolean;
}

export interface IngestSourceProgress {
  institution: string;
  source: string;
  pages: number;
  cursor?: string;
  step: string;
  counts: SourceCounts;
}
