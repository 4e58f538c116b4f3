import { z } from 'zod';
import { institutionIdSchema, sourceCountsSchema } from './ingest';
import { sourceKindSchema, type SourceKind } from './institution';

/**
 * Kafka feeds (hospital pushes) and the feed workflow's input. Envelopes are parsed here once, at the intake edge;
 * the workflow input carries only staging keys, counts, topic names and offsets (never a message value or a header
 * a hospital filled in beyond its institution id).
 */

/** Topic suffixes: hospitals push to `<prefix>.<feed>`; rejected messages go to `<prefix>.dlq`. */
export const feedTopics = ['hl7v2', 'fhir', 'wearable', 'druglabel', 'insurance'] as const;
export const feedTopicSchema = z.enum(feedTopics);
export type FeedTopic = z.infer<typeof feedTopicSchema>;

/** What each topic may carry: its source kind and, for EHR topics, the one registry format it is for. */
export const FEED_TOPIC_SOURCES: Record<FeedTopic, { source: SourceKind; ehrFormat?: string }> = {
  hl7v2: { source: 'ehr', ehrFormat: 'hl7v2' },
  fhir: { source: 'ehr', ehrFormat: 'fhir-api' },
  wearable: { source: 'wearable' },
  druglabel: { source: 'druglabel' },
  insurance: { source: 'insurance' },
};

/**
 * The headers of one pushed message (synth/FORMATS.md "Kafka (synth push)"), decoded to text. Values are checked
 * against the institution registry after this parse (intake/envelope.ts).
 */
export const feedEnvelopeSchema = z.object({
  institution: institutionIdSchema,
  source: sourceKindSchema,
  format: z.string().regex(/^[a-z0-9-]{1,40}$/, 'a registry format name'),
  'content-type': z.string().min(1).max(200).optional(),
  'message-id': z.string().min(1).max(400).optional(),
});
export type FeedEnvelope = z.infer<typeof feedEnvelopeSchema>;

/** Kafka offsets are 64-bit: carried as decimal strings. */
export const kafkaOffsetSchema = z.string().regex(/^\d{1,20}$/, 'a Kafka offset');

/** One staged page of a feed batch: the valid messages of one institution and source, one part per message. */
export const feedPageSchema = z.object({
  rawKey: z.string().min(1),
  digest: z.string().min(1),
  institution: institutionIdSchema,
  source: sourceKindSchema,
  messages: z.number().int().positive(),
});
export type FeedPage = z.infer<typeof feedPageSchema>;

export const ingestFeedInputSchema = z.object({
  /** Output run folder and staging-key namespace of feed pages (default `feeds`). */
  runId: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'lower-case letters, digits and dashes'),
  topic: z.string().min(1),
  partition: z.number().int().nonnegative(),
  firstOffset: kafkaOffsetSchema,
  lastOffset: kafkaOffsetSchema,
  /** Messages of the range this workflow accounts for: consumed = staged (sum of pages' messages) + dlq. */
  consumed: z.number().int().nonnegative(),
  dlq: z.number().int().nonnegative(),
  pages: z.array(feedPageSchema),
  route: z.boolean(),
  imagingQueue: z.string().min(1),
  fhirServerUrl: z.string().optional(),
  stowUrl: z.string().optional(),
});
export type IngestFeedInput = z.infer<typeof ingestFeedInputSchema>;

export const ingestFeedResultSchema = z.object({
  topic: z.string(),
  partition: z.number().int(),
  firstOffset: kafkaOffsetSchema,
  lastOffset: kafkaOffsetSchema,
  consumed: z.number().int().nonnegative(),
  staged: z.number().int().nonnegative(),
  dlq: z.number().int().nonnegative(),
  /** Record-level: in = published + quarantined + rejected; a message the mapper could not read at all is a quarantined page (pagesQuarantined). */
  counts: sourceCountsSchema,
});
export type IngestFeedResult = z.infer<typeof ingestFeedResultSchema>;

/** `feed:<topic>:<partition>:<firstOffset>-<lastOffset>`: derived from what the workflow processes, nothing else. */
export function feedWorkflowId(
  topic: string,
  partition: number,
  firstOffset: string,
  lastOffset: string,
): string {
  return `feed:${topic}:${partition}:${firstOffset}-${lastOffset}`;
}
