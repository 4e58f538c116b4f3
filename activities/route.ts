import { log } from '../platform/log';
import { sealWorkItem } from '../annotation/seal';
import { routeItem, type RoutingRules } from '../annotation/routing';
import type { QueueStore } from '../annotation/store';
import { loadProfile } from '../deid/index';
import type { FhirResource } from '../mappers/types';
import type { Institution, SourceKind } from '../schemas/institution';
import type { VerifiedWorkItem, WorkItemCode, WorkItemContent } from '../schemas/work-item';
import type { RoutableResource } from './ingest';
import { profileFor } from './steps';

/**
 * Verified FHIR output → annotation work items. Only resources an annotator can act on become candidates (notes,
 * conditions, reports, imaging studies, drug knowledge, wearable observations); the routing rules decide the
 * queues, and the store counts what no rule routes.
 */
const CANDIDATE_TYPES = new Set([
  'DocumentReference',
  'Condition',
  'DiagnosticReport',
  'ImagingStudy',
  'MedicationKnowledge',
]);

interface Coding {
  system?: string;
  code?: string;
  display?: string;
}
interface Concept {
  coding?: Coding[];
  text?: string;
}

function codesOf(...concepts: (Concept | undefined)[]): WorkItemCode[] {
  const out: WorkItemCode[] = [];
  for (const c of concepts) {
    for (const coding of c?.coding ?? []) {
      if (coding.system && coding.code)
        out.push({
          system: coding.system,
          code: coding.code,
          ...(coding.display ? { display: coding.display } : {}),
        });
    }
  }
  return out.slice(0, 100);
}

function textOf(resource: FhirResource): string | undefined {
  const parts: string[] = [];
  const concept = (k: string) => (resource[k] as Concept | undefined)?.text;
  for (const k of ['code', 'type', 'description']) {
    const v = k === 'description' ? resource.description : concept(k);
    if (typeof v === 'string') parts.push(v);
  }
  if (resource.resourceType === 'DocumentReference') {
    for (const c of (resource.content as
      { attachment?: { data?: string; contentType?: string } }[] | undefined) ?? []) {
      if (c.attachment?.data && (c.attachment.contentType ?? 'text/plain').startsWith('text/'))
        parts.push(Buffer.from(c.attachment.data, 'base64').toString('utf8'));
    }
  }
  if (typeof resource.conclusion === 'string') parts.push(resource.conclusion);
  const text = parts.join('\n').slice(0, 100_000);
  return text || undefined;
}

export function workItemContentOf(
  r: RoutableResource,
  institution: string,
  source: SourceKind,
): WorkItemContent | undefined {
  const { resource } = r;
  const wearableObservation = source === 'wearable' && resource.resourceType === 'Observation';
  if (!CANDIDATE_TYPES.has(resource.resourceType) && !wearableObservation) return undefined;
  const text = textOf(resource);
  const content: WorkItemContent = {
    id: r.id,
    institution,
    sourceKind: source,
    resourceType: resource.resourceType,
    summary: {
      title: (resource.code as Concept | undefined)?.text?.slice(0, 300) ?? resource.resourceType,
      ...(text ? { excerpts: [text.slice(0, 4000)] } : {}),
    },
    codes: codesOf(
      resource.code as Concept | undefined,
      ...((resource.category as Concept[] | undefined) ?? []),
      resource.type as Concept | undefined,
    ),
    ...(text ? { text } : {}),
  };
  if (resource.resourceType === 'ImagingStudy') {
    const series = (resource.series as { modality?: Coding; bodySite?: Coding }[] | undefined) ?? [];
    const modality = series.find((s) => s.modality?.code)?.modality?.code;
    const site = series.find((s) => s.bodySite)?.bodySite;
    if (modality) content.modality = modality;
    if (site?.display ?? site?.code) content.bodySite = site.display ?? site.code;
  }
  return content;
}

export function createRouter(options: {
  store: QueueStore;
  rules: RoutingRules;
  keyId: string;
  institutions: Institution[];
}) {
  return async (
    items: RoutableResource[],
    ctx: { institution: string; source: SourceKind; receivedAt?: string },
  ): Promise<{ routed: number; updated: number; conflicts: number }> => {
    const institution = options.institutions.find((i) => i.id === ctx.institution);
    const policy = institution ? loadProfile(profileFor(institution, ctx.source)) : undefined;
    const sealed: VerifiedWorkItem[] = [];
    for (const item of items) {
      const content = workItemContentOf(item, ctx.institution, ctx.source);
      if (!content || !policy) continue;
      // Pictures only for an item some queue takes: rendering them cost the in-process bench a sixth of its speed,
      // and an image no rule routes is seen by no annotator.
      if (item.previews && routeItem(content, options.rules).length) {
        const previews = await item.previews();
        if (previews.length) content.previews = previews;
      }
      sealed.push(
        sealWorkItem(content, { policy: policy.name, policyVersion: policy.version, keyId: options.keyId }),
      );
    }
    if (sealed.length === 0) return { routed: 0, updated: 0, conflicts: 0 };
    const result = await options.store.enqueue(sealed, options.rules, { receivedAt: ctx.receivedAt });
    // A later version of a queued item (a corrected result; real HL7 feeds resend order and result ids with other
    // content) replaces it while nobody has begun it. One that cannot (an annotator has begun the queued version, or
    // it was received no later) leaves the queued item standing; it must be visible: counted in the run
    // (itemConflicts) and named by ingest status.
    if (result.conflicts > 0) {
      log.warn('work items conflict with queued items of the same id', {
        institution: ctx.institution,
        source: ctx.source,
        conflicts: result.conflicts,
      });
    }
    return {
      routed: result.enqueued + result.updated + result.duplicates,
      updated: result.updated + result.superseded,
      conflicts: result.conflicts,
    };
  };
}
