import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { parseAtEdge } from '../platform/config';
import { TributaryError, toError } from '../platform/errors';
import { sourceKindSchema } from '../schemas/institution';
import type { WorkItemContent } from '../schemas/work-item';

/**
 * Routing rules: which queue a verified work item goes to, how urgently, how many annotators label it, and which
 * share of items are gold (reference-labelled by a reviewer, then used to score annotators). Config, zod-validated.
 */

export const queueIdSchema = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes, starting with a letter');
export const taskTypeSchema = z.enum(['classification', 'free-text-finding', 'image-region']);
export type TaskType = z.infer<typeof taskTypeSchema>;

export const queueDefinitionSchema = z
  .strictObject({
    id: queueIdSchema,
    title: z.string().min(1),
    taskType: taskTypeSchema,
    /** Classification choices, or region labels for image-region tasks. */
    labels: z.array(z.string().min(1).max(100)).max(100).default([]),
    /** Lease on a claimed item; an expired lease returns the item to the pool. */
    leaseSeconds: z.number().positive().max(86_400).default(900),
    /** Items whose pairwise agreement falls below this get one more annotator, up to maxAnnotators. */
    minItemAgreement: z.number().min(0).max(1).default(1),
    maxAnnotators: z.number().int().min(1).max(20).default(5),
    /** Completed items wait for a reviewer's accept/reject/requeue. */
    review: z.boolean().default(true),
  })
  .superRefine((q, ctx) => {
    if (q.taskType !== 'free-text-finding' && q.labels.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['labels'],
        message: `a ${q.taskType} queue needs at least one label`,
      });
    }
  });
export type QueueDefinition = z.infer<typeof queueDefinitionSchema>;

const lowerList = z.array(z.string().min(1)).min(1).optional();

export const routingMatchSchema = z.strictObject({
  resourceTypes: lowerList,
  sourceKinds: z.array(sourceKindSchema).min(1).optional(),
  modalities: lowerList,
  /** Substrings of the item's body site, case-insensitive. */
  bodySites: lowerList,
  /** Any of these codes (system optional: then any system). */
  codes: z
    .array(z.strictObject({ system: z.string().min(1).optional(), code: z.string().min(1) }))
    .min(1)
    .optional(),
  /** Any of these phrases in the item's text, case-insensitive, on word boundaries. */
  textAny: lowerList,
});
export type RoutingMatch = z.infer<typeof routingMatchSchema>;

export const routingRuleSchema = z.strictObject({
  name: z.string().min(1),
  queue: queueIdSchema,
  match: routingMatchSchema,
  priority: z.number().int().min(0).max(1000).default(50),
  annotators: z.number().int().min(1).max(20).default(1),
  /** Share of the matched items that become gold items, chosen deterministically from the item id. */
  goldShare: z.number().min(0).max(1).default(0),
});
export type RoutingRule = z.infer<typeof routingRuleSchema>;

export const routingRulesSchema = z
  .strictObject({
    version: z.literal(1),
    queues: z.array(queueDefinitionSchema).min(1),
    rules: z.array(routingRuleSchema),
    /** Where items that match no rule go; without it they are counted as unrouted and not enqueued. */
    fallback: z
      .strictObject({
        queue: queueIdSchema,
        priority: z.number().int().min(0).max(1000).default(0),
        annotators: z.number().int().min(1).max(20).default(1),
      })
      .optional(),
  })
  .superRefine((r, ctx) => {
    const ids = new Set<string>();
    r.queues.forEach((q, i) => {
      if (ids.has(q.id))
        ctx.addIssue({ code: 'custom', path: ['queues', i, 'id'], message: `duplicate queue "${q.id}"` });
      ids.add(q.id);
    });
    r.rules.forEach((rule, i) => {
      if (!ids.has(rule.queue))
        ctx.addIssue({
          code: 'custom',
          path: ['rules', i, 'queue'],
          message: `unknown queue "${rule.queue}"`,
        });
      if (Object.keys(rule.match).length === 0)
        ctx.addIssue({
          code: 'custom',
          path: ['rules', i, 'match'],
          message: 'a rule must match on something',
        });
    });
    if (r.fallback && !ids.has(r.fallback.queue))
      ctx.addIssue({
        code: 'custom',
        path: ['fallback', 'queue'],
        message: `unknown queue "${r.fallback.queue}"`,
      });
  });
export type RoutingRules = z.infer<typeof routingRulesSchema>;

export interface Route {
  queue: string;
  priority: number;
  annotators: number;
  gold: boolean;
  rule: string;
}

export const defaultRoutingRulesFile = path.resolve(import.meta.dirname, '../config/routing/rules.json');

/** Read and validate routing rules (default: config/routing/rules.json). Errors name the file and each bad field. */
export function loadRoutingRules(file: string = defaultRoutingRulesFile): RoutingRules {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new TributaryError(
      `routing rules ${file}: cannot read as JSON (${toError(e).message.split('\n')[0]})`,
      { code: 'invalid', location: file, nonRetryable: true, cause: e },
    );
  }
  return parseAtEdge(routingRulesSchema, raw, `routing rules ${file}`);
}

/** Every queue the item belongs to (one route per queue: the highest-priority matching rule), or the fallback. */
export function routeItem(item: WorkItemContent, rules: RoutingRules): Route[] {
  const byQueue = new Map<string, Route>();
  for (const rule of rules.rules) {
    if (!matchesRule(item, rule.match)) continue;
    const prior = byQueue.get(rule.queue);
    if (prior && prior.priority >= rule.priority) continue;
    byQueue.set(rule.queue, {
      queue: rule.queue,
      priority: rule.priority,
      annotators: rule.annotators,
      gold: isGoldPick(item.id, rule.queue, rule.goldShare),
      rule: rule.name,
    });
  }
  if (byQueue.size === 0 && rules.fallback) {
    const f = rules.fallback;
    return [
      { queue: f.queue, priority: f.priority, annotators: f.annotators, gold: false, rule: 'fallback' },
    ];
  }
  return [...byQueue.values()].sort((a, b) => b.priority - a.priority || a.queue.localeCompare(b.queue));
}

export function matchesRule(item: WorkItemContent, m: RoutingMatch): boolean {
  const eq = (list: string[] | undefined, value: string | undefined) =>
    !list || (value !== undefined && list.some((x) => x.toLowerCase() === value.toLowerCase()));
  if (!eq(m.resourceTypes, item.resourceType)) return false;
  if (m.sourceKinds && !m.sourceKinds.includes(item.sourceKind)) return false;
  if (!eq(m.modalities, item.modality)) return false;
  if (m.bodySites) {
    const site = item.bodySite?.toLowerCase();
    if (!site || !m.bodySites.some((s) => site.includes(s.toLowerCase()))) return false;
  }
  if (m.codes) {
    const codes = item.codes ?? [];
    if (
      !m.codes.some((want) =>
        codes.some((c) => c.code === want.code && (!want.system || want.system === c.system)),
      )
    )
      return false;
  }
  if (m.textAny) {
    const text = item.text;
    if (!text || !m.textAny.some((phrase) => phraseRegex(phrase).test(text))) return false;
  }
  return true;
}

const phraseCache = new Map<string, RegExp>();
function phraseRegex(phrase: string): RegExp {
  let re = phraseCache.get(phrase);
  if (!re) {
    const escaped = phrase
      .trim()
      .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
      .replace(/\s+/g, '\\s+');
    // Word boundaries for Latin text; CJK phrases match as plain substrings.
    re = /^[\x20-\x7e]+$/.test(phrase) ? new RegExp(`\\b${escaped}\\b`, 'i') : new RegExp(escaped, 'i');
    phraseCache.set(phrase, re);
  }
  return re;
}

/** Deterministic: the same item in the same queue is gold or not on every run (FNV-1a of queue and id). */
export function isGoldPick(itemId: string, queue: string, share: number): boolean {
  if (share <= 0) return false;
  if (share >= 1) return true;
  let h = 0x811c9dc5;
  for (const ch of `${queue}\u0000${itemId}`) {
    h ^= ch.codePointAt(0)!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h / 0x1_0000_0000 < share;
}
