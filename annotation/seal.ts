import { createHash } from 'node:crypto';
import { parseAtEdge } from '../platform/config';
import { TributaryError } from '../platform/errors';
import {
  canonicalWorkItemJson,
  verifiedWorkItemSchema,
  type VerifiedWorkItem,
  type WorkItemContent,
  type WorkItemVerification,
} from '../schemas/work-item';

/** sha256 (hex) of the item's canonical content (everything but the verification mark). */
export function digestWorkItem(item: WorkItemContent | VerifiedWorkItem): string {
  return createHash('sha256').update(canonicalWorkItemJson(item), 'utf8').digest('hex');
}

/**
 * Attach the verify step's mark to de-identified content and return the branded item. Call this only with the
 * output of the residual-PHI gate: the mark says the gate passed.
 */
export function sealWorkItem(
  content: WorkItemContent,
  mark: Omit<WorkItemVerification, 'gate' | 'digest' | 'verifiedAt'> & { verifiedAt?: string },
): VerifiedWorkItem {
  const item = {
    ...content,
    verification: {
      gate: 'passed' as const,
      policy: mark.policy,
      policyVersion: mark.policyVersion,
      keyId: mark.keyId,
      digest: digestWorkItem(content),
      verifiedAt: mark.verifiedAt ?? new Date().toISOString(),
    },
  };
  const sealed = deepFreeze(parseAtEdge(verifiedWorkItemSchema, item, `work item ${content.id}`));
  sealedHere.add(sealed);
  return sealed;
}

/**
 * Items this process sealed, frozen from the mark down: nothing can change them after the digest was taken, so the
 * store's check need not parse and hash them again (it cost the in-process ingestion about 2% of its main thread).
 * Only `sealWorkItem` adds to it, and a WeakSet cannot be enumerated or forged: an item from anywhere else (a
 * workflow payload, a file, a copy of a sealed item) is checked in full.
 */
const sealedHere = new WeakSet<object>();

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** The store's own check: the mark is present, says passed, and its digest matches the content. */
export function assertVerificationMark(item: unknown, where: string): VerifiedWorkItem {
  if (typeof item === 'object' && item !== null && sealedHere.has(item)) return item as VerifiedWorkItem;
  const parsed = parseAtEdge(verifiedWorkItemSchema, item, where);
  if (digestWorkItem(parsed) !== parsed.verification.digest) {
    throw new TributaryError(
      `${where}: verification digest does not match the item's content (changed after the de-identification gate)`,
      {
        code: 'security',
        location: `${where}.verification.digest`,
        nonRetryable: true,
      },
    );
  }
  return parsed;
}
