import { z } from 'zod';
import { sourceKindSchema } from './institution';

/**
 * A de-identified work item for the annotation queues. Only the verify step's output becomes one: the type is
 * branded, so the queue store's interface accepts nothing that did not pass `verifiedWorkItemSchema`, and the
 * store re-checks the verification mark (gate passed, digest equal to the sha256 of the canonical content).
 *
 * Digest: sha256 (hex) of `canonicalWorkItemJson(item)`, i.e. every field except `verification`, keys sorted
 * recursively, no whitespace. `sealWorkItem` in annotation/seal.ts computes it and returns the branded item.
 */

/** Stable ids derived from the source key (e.g. `inst-a:ehr:Observation/abc`); never an MRN or a name. */
export const workItemIdSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]*$/, 'letters, digits and . _ : / - only');

export const workItemCodeSchema = z.strictObject({
  system: z.string().min(1),
  code: z.string().min(1),
  display: z.string().optional(),
});
export type WorkItemCode = z.infer<typeof workItemCodeSchema>;

/** A PNG preview rendered from de-identified pixels; `ref` is relative to the annotation server's preview root. */
export const workItemPreviewSchema = z.strictObject({
  ref: z
    .string()
    .min(1)
    .max(300)
    .regex(/^[A-Za-z0-9_][A-Za-z0-9._/-]*\.png$/, 'a relative path to a .png file')
    .refine((r) => !r.split('/').includes('..'), 'must not leave the preview root'),
  caption: z.string().max(200).optional(),
});
export type WorkItemPreview = z.infer<typeof workItemPreviewSchema>;

/** What the annotator sees: a de-identified subset of the resource and text excerpts. */
export const workItemSummarySchema = z.strictObject({
  title: z.string().max(300).optional(),
  resource: z.record(z.string(), z.unknown()).optional(),
  excerpts: z.array(z.string().max(4000)).max(20).optional(),
});
export type WorkItemSummary = z.infer<typeof workItemSummarySchema>;

export const workItemVerificationSchema = z.strictObject({
  gate: z.literal('passed'),
  policy: z.string().min(1),
  policyVersion: z.string().min(1),
  keyId: z.string().min(1),
  digest: z.string().regex(/^[0-9a-f]{64}$/, 'sha256 in lower-case hex'),
  verifiedAt: z.iso.datetime({ offset: true }),
});
export type WorkItemVerification = z.infer<typeof workItemVerificationSchema>;

export const workItemContentSchema = z.strictObject({
  id: workItemIdSchema,
  institution: z.string().min(1),
  sourceKind: sourceKindSchema,
  resourceType: z.string().min(1),
  summary: workItemSummarySchema,
  previews: z.array(workItemPreviewSchema).max(50).optional(),
  codes: z.array(workItemCodeSchema).max(100).optional(),
  /** DICOM modality (CT, MR, CR, US, ...) for imaging items. */
  modality: z.string().optional(),
  /** Body site as text or a code display (e.g. `chest`, `CHEST`). */
  bodySite: z.string().optional(),
  /** De-identified free text the routing rules match against (notes, flags, label sections). */
  text: z.string().max(100_000).optional(),
});
export type WorkItemContent = z.infer<typeof workItemContentSchema>;

export const verifiedWorkItemSchema = workItemContentSchema
  .extend({ verification: workItemVerificationSchema })
  .brand<'VerifiedWorkItem'>();
export type VerifiedWorkItem = z.infer<typeof verifiedWorkItemSchema>;

/** The JSON the digest covers: every field but `verification`, keys sorted recursively, no whitespace. */
export function canonicalWorkItemJson(item: WorkItemContent | VerifiedWorkItem): string {
  const { verification: _ignored, ...content } = item as WorkItemContent & { verification?: unknown };
  return canonicalJson(content);
}

function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value))
    return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}
