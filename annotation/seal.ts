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
  return parseAtEdge(verifiedWorkItemSchema, item, `work item ${content.id}`);
}

/** The store's own check: the mark is present, says passed, and its digest matches the content. */
export function assertVerificationMark(item: unknown, where: string): VerifiedWorkItem {
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
