import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { z } from 'zod';
import { parseAtEdge } from '../platform/config';
import { TributaryError } from '../platform/errors';
import { log } from '../platform/log';
import type { VerifiedWorkItem, WorkItemContent } from '../schemas/work-item';
import { computeAgreement, pairwiseAgreement, type QueueAgreement } from './agreement';
import { openDb, type Db, type Sql } from './db';
import {
  queueDefinitionSchema,
  queueIdSchema,
  routeItem,
  type QueueDefinition,
  type RoutingRules,
} from './routing';
import { assertVerificationMark } from './seal';
import { categoryOf, parseLabels, type TaskLabels } from './tasks';

/**
 * The annotation queue store. Items enter only with a valid verification mark; annotators claim items under
 * leases (FOR UPDATE SKIP LOCKED on the item's queue row, then a count of live assignments), and an expired lease
 * frees its slot without any sweeper: live = submitted, or leased with an unexpired lease.
 */

export const roles = ['admin', 'reviewer', 'annotator'] as const;
export const roleSchema = z.enum(roles);
export type Role = z.infer<typeof roleSchema>;
export const userIdSchema = z
  .string()
  .regex(/^[a-z][a-z0-9._-]{0,62}$/, 'lower-case letters, digits, . _ - (starting with a letter)');

export interface User {
  id: string;
  role: Role;
  queues: string[];
}

/**
 * Every item given to enqueue is counted once: enqueued + updated + duplicates + superseded + conflicts = items.
 * An item's versions are ordered by when their source was received (EnqueueOptions.receivedAt), then by position in
 * one call: a later version replaces an earlier one that no annotator has begun (a corrected lab result, a note
 * amended before anyone claimed it).
 */
export interface EnqueueResult {
  /** Items new to the store. */
  enqueued: number;
  /**
   * Items that replaced the stored version of their id: received later, other content, and nobody had begun the
   * stored one (no claim, no gold labels, still open). Routed again by their new content.
   */
  updated: number;
  /** Items already present with the same digest (a replayed batch), or twice in one call. */
  duplicates: number;
  /** Items a later one of the same id in the same call replaced before they were stored. */
  superseded: number;
  /**
   * Items with other content than the stored version of their id that did not replace it: received no later than it
   * (or when, unknown), or an annotator has begun it (its labels were given to that content). The stored version
   * stands; reported, not overwritten.
   */
  conflicts: number;
  /** Items no rule routed (and no fallback): stored nowhere, counted here. */
  unrouted: number;
  /** New queue entries per queue. */
  byQueue: Record<string, number>;
}

export interface EnqueueOptions {
  /**
   * When the items' source was received (ISO 8601): the page's fetch time, a feed message's Kafka timestamp. Without
   * it an item never replaces a stored version (an administrator's file of items says nothing about its age).
   */
  receivedAt?: string;
}

export interface ItemView {
  queue: string;
  itemId: string;
  taskType: QueueDefinition['taskType'];
  choices: string[];
  resourceType: string;
  sourceKind: string;
  modality?: string;
  bodySite?: string;
  summary: WorkItemContent['summary'];
  codes: NonNullable<WorkItemContent['codes']>;
  previews: { index: number; caption?: string }[];
}

export interface Claim {
  assignmentId: string;
  leaseExpiresAt: string;
  item: ItemView;
}

export interface LabelRecord {
  assignmentId: string;
  annotator: string;
  round: number;
  labels: TaskLabels;
  category: string;
  submittedAt: string;
}

export interface AnnotatorStats {
  annotator: string;
  submitted: number;
  skipped: number;
  released: number;
  expired: number;
  leased: number;
  medianSecondsPerItem: number | null;
  gold: { scored: number; correct: number; accuracy: number | null };
  /** Share of pairs agreeing with co-annotators on the same items. */
  pairwiseAgreement: number | null;
}

export type ReviewDecision = 'accept' | 'reject' | 'requeue';

export interface QueueStore {
  readonly kind: 'pg' | 'pglite';
  enqueue(items: VerifiedWorkItem[], rules: RoutingRules, options?: EnqueueOptions): Promise<EnqueueResult>;
  defineQueues(queues: QueueDefinition[]): Promise<void>;
  listQueues(user?: User): Promise<(QueueDefinition & { counts: QueueCounts })[]>;
  getQueue(id: string): Promise<QueueDefinition | undefined>;
  addUser(input: { id: string; role: Role; queues?: string[] }): Promise<{ user: User; token: string }>;
  setUserQueues(userId: string, queues: string[]): Promise<void>;
  authenticate(token: string): Promise<User | undefined>;
  claimNext(user: User, queue: string): Promise<Claim | undefined>;
  /** The item as an annotator sees it, if the user may see it (assigned to them, or reviewer/admin). */
  viewItem(user: User, queue: string, itemId: string): Promise<ItemView | undefined>;
  previewRef(queue: string, itemId: string, index: number): Promise<string | undefined>;
  /** Every preview ref of every stored item and kept correction, in a queue or not (what `prunePreviews` keeps). */
  previewRefs(): Promise<Set<string>>;
  submit(user: User, assignmentId: string, labels: unknown): Promise<{ status: string; required: number }>;
  skip(user: User, assignmentId: string, reason: string): Promise<void>;
  release(user: User, assignmentId: string): Promise<void>;
  /** Blind: an annotator gets only their own labels; reviewers and admins get all. */
  labels(user: User, queue: string, itemId: string): Promise<LabelRecord[]>;
  agreement(queue: string): Promise<QueueAgreement>;
  reviewList(
    queue: string,
    limit?: number,
  ): Promise<{ itemId: string; round: number; labels: LabelRecord[]; agreement: number | null }[]>;
  review(
    user: User,
    queue: string,
    itemId: string,
    decision: ReviewDecision,
    note?: string,
  ): Promise<{ status: string; round: number }>;
  setGold(queue: string, itemId: string, labels: unknown): Promise<void>;
  annotatorStats(queue: string | undefined, annotator?: string): Promise<AnnotatorStats[]>;
  exportRows(queue: string): Promise<ExportRow[]>;
  close(): Promise<void>;
}

export interface QueueCounts {
  open: number;
  review: number;
  done: number;
  /** Items of the queue whose source was corrected after an annotator began them (migration 003). */
  corrected: number;
}

export interface ExportRow {
  queue: string;
  taskType: QueueDefinition['taskType'];
  itemId: string;
  resourceType: string;
  sourceKind: string;
  content: WorkItemContent;
  status: string;
  round: number;
  gold: boolean;
  reviewDecision: string | null;
  labels: LabelRecord[];
  /**
   * When a later version of the source arrived after annotation had begun: the labels were given to `content`, which
   * the source has since corrected.
   */
  sourceCorrectedAt?: string;
}

export interface OpenQueueStoreOptions {
  /** PostgreSQL (`pg`); without it, PGlite in dataDir. */
  databaseUrl?: string;
  /** PGlite data folder (default ./data/queues); `memory://` for an in-memory database. */
  dataDir?: string;
  poolSize?: number;
  /** A PostgreSQL schema to keep the tables in (created if missing): isolates tests and benchmarks. */
  schema?: string;
}

export async function openQueueStore(options: OpenQueueStoreOptions = {}): Promise<QueueStore> {
  const db = await openDb({
    databaseUrl: options.databaseUrl,
    dataDir: options.databaseUrl ? undefined : (options.dataDir ?? path.resolve('data', 'queues')),
    poolSize: options.poolSize,
    schema: options.schema,
  });
  return createQueueStore(db);
}

const hashToken = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');

function notFound(what: string): TributaryError {
  return new TributaryError(`${what} not found`, { code: 'not-found', nonRetryable: true });
}
function forbidden(what: string): TributaryError {
  return new TributaryError(what, { code: 'security', nonRetryable: true });
}
function conflict(what: string): TributaryError {
  return new TributaryError(what, { code: 'invariant', nonRetryable: true });
}

interface AssignmentRow {
  id: string;
  queue_id: string;
  item_id: string;
  user_id: string;
  round: number;
  state: string;
  live: boolean;
}

/** The items table's columns for a set-based statement over `unnest`, in the order both statements name them. */
function itemColumns(items: VerifiedWorkItem[]): string[][] {
  return [
    items.map((i) => i.id),
    items.map((i) => i.institution),
    items.map((i) => i.sourceKind),
    items.map((i) => i.resourceType),
    items.map(({ verification: _v, ...content }) => JSON.stringify(content)),
    items.map((i) => i.verification.digest),
    items.map((i) => JSON.stringify(i.verification)),
  ];
}

/**
 * Of these stored items, those no annotator has begun: no assignment of any state (a claim, a skip, a submission),
 * no gold labels, every queue row still open. Their queue rows are locked first, as a claim locks them, so a claim
 * running now either commits its assignment before this looks, or waits and finds the item replaced.
 */
async function replaceableItems(tx: Sql, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  await tx.query(
    'SELECT 1 FROM queue_items WHERE item_id = ANY($1::text[]) ORDER BY queue_id, item_id FOR UPDATE',
    [ids],
  );
  const begun = await tx.query<{ item_id: string }>(
    `SELECT item_id FROM queue_items
     WHERE item_id = ANY($1::text[]) AND (status <> 'open' OR gold_labels IS NOT NULL)
     UNION SELECT item_id FROM assignments WHERE item_id = ANY($1::text[])`,
    [ids],
  );
  const started = new Set(begun.map((r) => r.item_id));
  return new Set(ids.filter((id) => !started.has(id)));
}

const isoTimestampSchema = z.iso.datetime({ offset: true });

/** An ISO 8601 timestamp with its offset, or a clear error naming the field (the value is not PHI: a fetch time). */
function isoTimestamp(value: string, where: string): string {
  return parseAtEdge(isoTimestampSchema, value, where);
}

function createQueueStore(db: Db): QueueStore {
  const queueCache = new Map<string, QueueDefinition>();

  async function getQueue(id: string): Promise<QueueDefinition | undefined> {
    const cached = queueCache.get(id);
    if (cached) return cached;
    const rows = await db.query<{ definition: unknown }>('SELECT definition FROM queues WHERE id = $1', [id]);
    if (!rows.length) return undefined;
    const def = queueDefinitionSchema.parse(rows[0].definition);
    queueCache.set(id, def);
    return def;
  }

  async function requireQueue(id: string): Promise<QueueDefinition> {
    const q = await getQueue(id);
    if (!q) throw notFound(`queue "${id}"`);
    return q;
  }

  async function defineQueues(queues: QueueDefinition[]): Promise<void> {
    for (const q of queues) {
      await db.query(
        `INSERT INTO queues (id, title, task_type, definition) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, task_type = EXCLUDED.task_type, definition = EXCLUDED.definition, updated_at = now()`,
        [q.id, q.title, q.taskType, JSON.stringify(q)],
      );
      queueCache.set(q.id, q);
    }
  }

  /**
   * Every enqueue carries the routing rules, but their queues rarely change: upsert a given set of definitions once
   * per store (an upsert per queue per page was a good part of the enqueue time), again only when they differ.
   */
  const definedQueues = new Map<string, Promise<void>>();
  function defineQueuesOnce(queues: QueueDefinition[]): Promise<void> {
    const signature = JSON.stringify(queues);
    let defined = definedQueues.get(signature);
    if (!defined) {
      defined = defineQueues(queues).catch((e: unknown) => {
        definedQueues.delete(signature); // a failed upsert is tried again by the next enqueue
        throw e;
      });
      definedQueues.set(signature, defined);
    }
    return defined;
  }

  const canSeeQueue = (user: User, queue: string) => user.role !== 'annotator' || user.queues.includes(queue);

  function toView(queue: QueueDefinition, content: WorkItemContent): ItemView {
    return {
      queue: queue.id,
      itemId: content.id,
      taskType: queue.taskType,
      choices: queue.labels,
      resourceType: content.resourceType,
      sourceKind: content.sourceKind,
      ...(content.modality ? { modality: content.modality } : {}),
      ...(content.bodySite ? { bodySite: content.bodySite } : {}),
      summary: content.summary,
      codes: content.codes ?? [],
      previews: (content.previews ?? []).map((p, index) => ({
        index,
        ...(p.caption ? { caption: p.caption } : {}),
      })),
    };
  }

  /** Lock an assignment's item row with the assignment; every assignment change holds the item row's lock. */
  async function lockAssignment(tx: Sql, user: User, assignmentId: string) {
    if (!/^\d{1,18}$/.test(assignmentId)) throw notFound('assignment');
    const rows = await tx.query<AssignmentRow & { qi_round: number; status: string; required: number }>(
      `SELECT a.id::text AS id, a.queue_id, a.item_id, a.user_id, a.round, a.state, (a.state = 'leased' AND a.lease_expires_at > now()) AS live,
              qi.round AS qi_round, qi.status, qi.required
       FROM assignments a JOIN queue_items qi ON qi.queue_id = a.queue_id AND qi.item_id = a.item_id
       WHERE a.id = $1 FOR UPDATE OF qi, a`,
      [assignmentId],
    );
    // Another user's assignment id is reported as not found: ids are not a way to probe others' work.
    if (!rows.length || rows[0].user_id !== user.id) throw notFound('assignment');
    const r = rows[0];
    return { a: r, qi: { round: r.qi_round, status: r.status, required: r.required } };
  }

  async function liveCount(
    tx: Sql,
    queue: string,
    itemId: string,
    round: number,
  ): Promise<{ live: number; submitted: number }> {
    const rows = await tx.query<{ live: number; submitted: number }>(
      `SELECT count(*) FILTER (WHERE state = 'submitted' OR (state = 'leased' AND lease_expires_at > now()))::int AS live,
              count(*) FILTER (WHERE state = 'submitted')::int AS submitted
       FROM assignments WHERE queue_id = $1 AND item_id = $2 AND round = $3`,
      [queue, itemId, round],
    );
    return rows[0];
  }

  async function labelRecords(
    sql: Sql,
    queue: string,
    itemId: string,
    userId?: string,
  ): Promise<LabelRecord[]> {
    const rows = await sql.query<{
      id: string;
      user_id: string;
      round: number;
      labels: TaskLabels;
      category: string;
      finished_at: Date;
    }>(
      `SELECT id::text AS id, user_id, round, labels, category, finished_at FROM assignments
       WHERE queue_id = $1 AND item_id = $2 AND state = 'submitted' ${userId ? 'AND user_id = $3' : ''} ORDER BY round, id`,
      userId ? [queue, itemId, userId] : [queue, itemId],
    );
    return rows.map((r) => ({
      assignmentId: r.id,
      annotator: r.user_id,
      round: r.round,
      labels: r.labels,
      category: r.category,
      submittedAt: new Date(r.finished_at).toISOString(),
    }));
  }

  return {
    kind: db.kind,

    async enqueue(items, rules, options = {}) {
      // The store's own gate: every item must carry a passed mark whose digest matches its content.
      const checked = items.map((item, i) => assertVerificationMark(item, `work item [${i}]`));
      const receivedAt =
        options.receivedAt === undefined ? undefined : isoTimestamp(options.receivedAt, 'enqueue receivedAt');
      await defineQueuesOnce(rules.queues);
      const result: EnqueueResult = {
        enqueued: 0,
        updated: 0,
        duplicates: 0,
        superseded: 0,
        conflicts: 0,
        unrouted: 0,
        byQueue: {},
      };
      if (checked.length === 0) return result;
      // An id twice in one call: its last version is the one stored (a feed's later message is the newer one); the
      // map keeps the id's first position, so queue order (seq) follows the batch's order.
      // Positions, not objects: the same sealed item may be given twice.
      const latest = new Map<string, number>();
      for (const [i, item] of checked.entries()) latest.set(item.id, i);
      for (const [i, item] of checked.entries()) {
        const last = latest.get(item.id)!;
        if (last === i) continue;
        if (checked[last].verification.digest === item.verification.digest) result.duplicates++;
        else result.superseded++;
      }
      const candidates = [...latest.values()].map((i) => checked[i]);
      const inCall = { duplicates: result.duplicates, superseded: result.superseded };
      await db.transaction(async (tx) => {
        // A transaction retried after a serialization failure or deadlock counts again from the start.
        Object.assign(result, { enqueued: 0, updated: 0, conflicts: 0, unrouted: 0, byQueue: {}, ...inCall });
        // Set-based: one statement per table for the whole batch (arrays keep the statement text constant).
        const inserted = new Set(
          (
            await tx.query<{ id: string }>(
              `INSERT INTO items (id, institution, source_kind, resource_type, content, digest, verification, received_at)
               SELECT id, institution, source_kind, resource_type, content::jsonb, digest, verification::jsonb, $8::timestamptz
               FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
                 AS t(id, institution, source_kind, resource_type, content, digest, verification)
               ON CONFLICT (id) DO NOTHING RETURNING id`,
              [...itemColumns(candidates), receivedAt ?? null],
            )
          ).map((r) => r.id),
        );
        const present = candidates.filter((i) => !inserted.has(i.id));
        // Locked, so that of two calls replacing one item the later to lock compares with what the earlier wrote (a
        // version received at 10:30 must not overwrite one received at 11:00 that committed while it waited).
        const stored = new Map(
          present.length
            ? (
                await tx.query<{ id: string; digest: string; older: boolean }>(
                  `SELECT id, digest, (received_at IS NULL OR received_at < $2::timestamptz) AS older
                   FROM items WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE`,
                  [present.map((i) => i.id), receivedAt ?? null],
                )
              ).map((r) => [r.id, r])
            : [],
        );
        const changed = present.filter((i) => stored.get(i.id)?.digest !== i.verification.digest);
        result.duplicates += present.length - changed.length;
        const newer = receivedAt ? changed.filter((i) => stored.get(i.id)?.older === true) : [];
        const replace = await replaceableItems(
          tx,
          newer.map((i) => i.id),
        );
        result.conflicts += changed.length - replace.size;
        // A correction of a begun item is kept beside it (migration 003), the latest received standing.
        const corrections = newer.filter((i) => !replace.has(i.id));
        if (corrections.length) {
          await tx.query(
            `INSERT INTO item_corrections (item_id, content, digest, verification, received_at)
             SELECT t.id, t.content::jsonb, t.digest, t.verification::jsonb, $8::timestamptz
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
               AS t(id, institution, source_kind, resource_type, content, digest, verification)
             ON CONFLICT (item_id) DO UPDATE SET content = EXCLUDED.content, digest = EXCLUDED.digest,
               verification = EXCLUDED.verification, received_at = EXCLUDED.received_at, recorded_at = now()
             WHERE item_corrections.received_at < EXCLUDED.received_at`,
            [...itemColumns(corrections), receivedAt],
          );
        }
        // The stored content received again, after a correction of it: the correction was withdrawn.
        const changedIds = new Set(changed.map((i) => i.id));
        const confirmed = receivedAt ? present.filter((i) => !changedIds.has(i.id)) : [];
        if (confirmed.length) {
          await tx.query(
            'DELETE FROM item_corrections WHERE item_id = ANY($1::text[]) AND received_at < $2::timestamptz',
            [confirmed.map((i) => i.id), receivedAt],
          );
        }
        const replacing = changed.filter((i) => replace.has(i.id));
        if (replacing.length) {
          // Nobody has begun these: the new content takes the id's place, and is routed afresh by it (a corrected
          // result may belong in another queue).
          await tx.query(
            `UPDATE items SET content = t.content::jsonb, digest = t.digest, verification = t.verification::jsonb,
               received_at = $8::timestamptz, enqueued_at = now()
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
               AS t(id, institution, source_kind, resource_type, content, digest, verification)
             WHERE items.id = t.id`,
            [...itemColumns(replacing), receivedAt],
          );
          await tx.query('DELETE FROM queue_items WHERE item_id = ANY($1::text[])', [
            replacing.map((i) => i.id),
          ]);
        }
        const routed: {
          queue: string;
          item: string;
          priority: number;
          required: number;
          gold: boolean;
          rule: string;
        }[] = [];
        for (const item of candidates) {
          if (inserted.has(item.id)) result.enqueued++;
          else if (replace.has(item.id)) result.updated++;
          else continue;
          const routes = routeItem(item, rules);
          if (!routes.length) result.unrouted++;
          for (const r of routes) {
            routed.push({
              queue: r.queue,
              item: item.id,
              priority: r.priority,
              required: r.annotators,
              gold: r.gold,
              rule: r.rule,
            });
            result.byQueue[r.queue] = (result.byQueue[r.queue] ?? 0) + 1;
          }
        }
        if (routed.length === 0) return;
        // Row order is the batch's order: seq (first in, first claimed within a priority) follows it.
        await tx.query(
          `INSERT INTO queue_items (queue_id, item_id, priority, required, gold, rule)
           SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::boolean[], $6::text[])
           ON CONFLICT DO NOTHING`,
          [
            routed.map((r) => r.queue),
            routed.map((r) => r.item),
            routed.map((r) => r.priority),
            routed.map((r) => r.required),
            routed.map((r) => r.gold),
            routed.map((r) => r.rule),
          ],
        );
      });
      log.debug('work items enqueued', { ...result, byQueue: undefined });
      return result;
    },

    defineQueues,
    getQueue,

    async listQueues(user) {
      const rows = await db.query<{ definition: unknown } & QueueCounts>(
        `SELECT q.definition,
                count(qi.item_id) FILTER (WHERE qi.status = 'open')::int AS open,
                count(qi.item_id) FILTER (WHERE qi.status = 'review')::int AS review,
                count(qi.item_id) FILTER (WHERE qi.status IN ('accepted', 'rejected'))::int AS done,
                count(c.item_id)::int AS corrected
         FROM queues q LEFT JOIN queue_items qi ON qi.queue_id = q.id
           LEFT JOIN item_corrections c ON c.item_id = qi.item_id
         GROUP BY q.id ORDER BY q.id`,
      );
      return rows
        .map((r) => ({
          ...queueDefinitionSchema.parse(r.definition),
          counts: { open: r.open, review: r.review, done: r.done, corrected: r.corrected },
        }))
        .filter((q) => !user || canSeeQueue(user, q.id));
    },

    async addUser({ id, role, queues = [] }) {
      parseAtEdge(
        z.object({ id: userIdSchema, role: roleSchema, queues: z.array(queueIdSchema) }),
        { id, role, queues },
        'user',
      );
      for (const q of queues) if (!(await getQueue(q))) throw notFound(`queue "${q}"`);
      const token = `trb_${randomBytes(24).toString('base64url')}`;
      await db.transaction(async (tx) => {
        await tx.query(
          `INSERT INTO users (id, role, token_hash) VALUES ($1, $2, $3)
           ON CONFLICT (id) DO UPDATE SET role = EXCLUDED.role, token_hash = EXCLUDED.token_hash`,
          [id, role, hashToken(token)],
        );
        await tx.query('DELETE FROM user_queues WHERE user_id = $1', [id]);
        for (const q of queues)
          await tx.query('INSERT INTO user_queues (user_id, queue_id) VALUES ($1, $2)', [id, q]);
      });
      return { user: { id, role, queues: [...queues].sort() }, token };
    },

    async setUserQueues(userId, queues) {
      await db.transaction(async (tx) => {
        await tx.query('DELETE FROM user_queues WHERE user_id = $1', [userId]);
        for (const q of queues)
          await tx.query('INSERT INTO user_queues (user_id, queue_id) VALUES ($1, $2)', [userId, q]);
      });
    },

    async authenticate(token) {
      if (!/^trb_[A-Za-z0-9_-]{20,64}$/.test(token)) return undefined;
      const rows = await db.query<{ id: string; role: Role; queues: string[] | null }>(
        `SELECT u.id, u.role, array_remove(array_agg(uq.queue_id ORDER BY uq.queue_id), NULL) AS queues
         FROM users u LEFT JOIN user_queues uq ON uq.user_id = u.id WHERE u.token_hash = $1 GROUP BY u.id, u.role`,
        [hashToken(token)],
      );
      if (!rows.length) return undefined;
      return { id: rows[0].id, role: rows[0].role, queues: rows[0].queues ?? [] };
    },

    async claimNext(user, queueId) {
      if (!canSeeQueue(user, queueId)) throw forbidden('this queue is not assigned to you');
      const queue = await requireQueue(queueId);
      const claimed = await db.transaction(async (tx) => {
        // A user who already holds a live lease in this queue gets it back (a reloaded page does not hoard items).
        const held = await tx.query<{
          id: string;
          item_id: string;
          lease_expires_at: Date;
          content: WorkItemContent;
        }>(
          `SELECT a.id::text AS id, a.item_id, a.lease_expires_at, i.content FROM assignments a JOIN items i ON i.id = a.item_id
           WHERE a.user_id = $1 AND a.queue_id = $2 AND a.state = 'leased' AND a.lease_expires_at > now() ORDER BY a.id LIMIT 1`,
          [user.id, queueId],
        );
        if (held.length) return held[0];
        const tried: string[] = [];
        for (let attempt = 0; attempt < 25; attempt++) {
          // Candidate: its snapshot may be stale; the locked row is re-checked below in a fresh statement.
          const cand = await tx.query<{ item_id: string }>(
            `SELECT qi.item_id FROM queue_items qi
             WHERE qi.queue_id = $1 AND qi.status = 'open' AND NOT (qi.item_id = ANY($3::text[]))
               AND (SELECT count(*) FROM assignments a WHERE a.queue_id = qi.queue_id AND a.item_id = qi.item_id AND a.round = qi.round
                    AND (a.state = 'submitted' OR (a.state = 'leased' AND a.lease_expires_at > now()))) < qi.required
               AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.queue_id = qi.queue_id AND a.item_id = qi.item_id AND a.round = qi.round
                    AND a.user_id = $2 AND (a.state IN ('submitted', 'skipped') OR (a.state = 'leased' AND a.lease_expires_at > now())))
             ORDER BY qi.priority DESC, qi.seq
             LIMIT 1 FOR UPDATE OF qi SKIP LOCKED`,
            [queueId, user.id, tried],
          );
          if (!cand.length) return undefined;
          const itemId = cand[0].item_id;
          tried.push(itemId);
          // Holding the row lock, every committed change to this item's assignments is visible to a new statement.
          const fresh = await tx.query<{
            status: string;
            round: number;
            required: number;
            live: number;
            stale: number;
            mine: boolean;
          }>(
            `SELECT qi.status, qi.round, qi.required,
               (SELECT count(*) FROM assignments a WHERE a.queue_id = qi.queue_id AND a.item_id = qi.item_id AND a.round = qi.round
                  AND (a.state = 'submitted' OR (a.state = 'leased' AND a.lease_expires_at > now())))::int AS live,
               (SELECT count(*) FROM assignments a WHERE a.queue_id = qi.queue_id AND a.item_id = qi.item_id
                  AND a.state = 'leased' AND a.lease_expires_at <= now())::int AS stale,
               EXISTS (SELECT 1 FROM assignments a WHERE a.queue_id = qi.queue_id AND a.item_id = qi.item_id AND a.round = qi.round AND a.user_id = $3
                  AND (a.state IN ('submitted', 'skipped') OR (a.state = 'leased' AND a.lease_expires_at > now()))) AS mine
             FROM queue_items qi WHERE qi.queue_id = $1 AND qi.item_id = $2`,
            [queueId, itemId, user.id],
          );
          const f = fresh[0];
          if (f.status !== 'open' || f.live >= f.required || f.mine) continue;
          if (f.stale > 0) {
            // Expired leases gave their slot back already (they are not counted); mark them so the history says so.
            await tx.query(
              `UPDATE assignments SET state = 'expired', finished_at = lease_expires_at
               WHERE queue_id = $1 AND item_id = $2 AND state = 'leased' AND lease_expires_at <= now()`,
              [queueId, itemId],
            );
          }
          const ins = await tx.query<{
            id: string;
            item_id: string;
            lease_expires_at: Date;
            content: WorkItemContent;
          }>(
            `WITH ins AS (
               INSERT INTO assignments (queue_id, item_id, user_id, round, state, lease_expires_at)
               VALUES ($1, $2, $3, $4, 'leased', now() + make_interval(secs => $5)) RETURNING id, item_id, lease_expires_at)
             SELECT ins.id::text AS id, ins.item_id, ins.lease_expires_at, i.content FROM ins JOIN items i ON i.id = ins.item_id`,
            [queueId, itemId, user.id, f.round, queue.leaseSeconds],
          );
          return ins[0];
        }
        return undefined;
      });
      if (!claimed) return undefined;
      return {
        assignmentId: claimed.id,
        leaseExpiresAt: new Date(claimed.lease_expires_at).toISOString(),
        item: toView(queue, claimed.content),
      };
    },

    async viewItem(user, queueId, itemId) {
      if (!canSeeQueue(user, queueId)) throw forbidden('this queue is not assigned to you');
      const queue = await requireQueue(queueId);
      if (user.role === 'annotator') {
        const mine = await db.query(
          'SELECT 1 FROM assignments WHERE queue_id = $1 AND item_id = $2 AND user_id = $3 LIMIT 1',
          [queueId, itemId, user.id],
        );
        if (!mine.length) throw forbidden('this item is not assigned to you');
      }
      const rows = await db.query<{ content: WorkItemContent }>(
        'SELECT i.content FROM queue_items qi JOIN items i ON i.id = qi.item_id WHERE qi.queue_id = $1 AND qi.item_id = $2',
        [queueId, itemId],
      );
      return rows.length ? toView(queue, rows[0].content) : undefined;
    },

    async previewRef(queueId, itemId, index) {
      const rows = await db.query<{ content: WorkItemContent }>(
        'SELECT i.content FROM queue_items qi JOIN items i ON i.id = qi.item_id WHERE qi.queue_id = $1 AND qi.item_id = $2',
        [queueId, itemId],
      );
      return rows[0]?.content.previews?.[index]?.ref;
    },

    async previewRefs() {
      const rows = await db.query<{ ref: string }>(
        `SELECT p->>'ref' AS ref FROM items, jsonb_array_elements(content->'previews') AS p
         WHERE jsonb_typeof(content->'previews') = 'array'
         UNION SELECT p->>'ref' FROM item_corrections, jsonb_array_elements(content->'previews') AS p
         WHERE jsonb_typeof(content->'previews') = 'array'`,
      );
      return new Set(rows.map((r) => r.ref));
    },

    async submit(user, assignmentId, input) {
      return db.transaction(async (tx) => {
        const { a, qi } = await lockAssignment(tx, user, assignmentId);
        const queue = await requireQueue(a.queue_id);
        const labels = parseLabels(queue, input);
        if (a.state !== 'leased' && a.state !== 'expired')
          throw conflict(`assignment is ${a.state}, not leased`);
        if (a.round !== qi.round || qi.status !== 'open')
          throw conflict('the item was requeued or closed since this claim');
        if (!a.live) {
          // Late submit on an expired lease: accepted only while the item still has room for it.
          const counts = await liveCount(tx, a.queue_id, a.item_id, a.round);
          if (counts.live >= qi.required)
            throw conflict('lease expired and the item was claimed by someone else');
        }
        // One statement: store the submission and read the round's categories (the CTE's update is not visible to the
        // outer query, so the new row comes from its RETURNING).
        const catRows = await tx.query<{ category: string }>(
          `WITH upd AS (
             UPDATE assignments SET state = 'submitted', finished_at = now(), labels = $2, category = $3 WHERE id = $1 RETURNING category)
           SELECT category FROM assignments
             WHERE queue_id = $4 AND item_id = $5 AND round = $6 AND state = 'submitted' AND id <> $1
           UNION ALL SELECT category FROM upd`,
          [
            assignmentId,
            JSON.stringify(labels),
            categoryOf(queue.taskType, labels),
            a.queue_id,
            a.item_id,
            a.round,
          ],
        );
        const cats = catRows.map((r) => r.category);
        let status = 'open';
        let required = qi.required;
        if (cats.length >= qi.required) {
          const agreement = pairwiseAgreement(cats);
          if (agreement !== null && agreement < queue.minItemAgreement && qi.required < queue.maxAnnotators) {
            required = qi.required + 1; // low agreement: one more annotator
          } else {
            status = queue.review ? 'review' : 'accepted';
          }
          await tx.query(
            'UPDATE queue_items SET required = $3, status = $4 WHERE queue_id = $1 AND item_id = $2',
            [a.queue_id, a.item_id, required, status],
          );
        }
        return { status, required };
      });
    },

    async skip(user, assignmentId, reason) {
      await db.transaction(async (tx) => {
        const { a } = await lockAssignment(tx, user, assignmentId);
        if (a.state !== 'leased') throw conflict(`assignment is ${a.state}, not leased`);
        await tx.query(
          `UPDATE assignments SET state = 'skipped', finished_at = now(), skip_reason = $2 WHERE id = $1`,
          [assignmentId, reason],
        );
      });
    },

    async release(user, assignmentId) {
      await db.transaction(async (tx) => {
        const { a } = await lockAssignment(tx, user, assignmentId);
        if (a.state !== 'leased') throw conflict(`assignment is ${a.state}, not leased`);
        await tx.query(`UPDATE assignments SET state = 'released', finished_at = now() WHERE id = $1`, [
          assignmentId,
        ]);
      });
    },

    async labels(user, queueId, itemId) {
      if (!canSeeQueue(user, queueId)) throw forbidden('this queue is not assigned to you');
      return labelRecords(db, queueId, itemId, user.role === 'annotator' ? user.id : undefined);
    },

    async agreement(queueId) {
      await requireQueue(queueId);
      // The latest round of each item: earlier rounds were superseded by a reviewer's requeue.
      const rows = await db.query<{ item_id: string; user_id: string; category: string }>(
        `SELECT a.item_id, a.user_id, a.category FROM assignments a
         JOIN queue_items qi ON qi.queue_id = a.queue_id AND qi.item_id = a.item_id AND qi.round = a.round
         WHERE a.queue_id = $1 AND a.state = 'submitted' ORDER BY a.item_id, a.id`,
        [queueId],
      );
      const units = new Map<string, Map<string, string>>();
      for (const r of rows) {
        const u = units.get(r.item_id) ?? new Map<string, string>();
        u.set(r.user_id, r.category);
        units.set(r.item_id, u);
      }
      return computeAgreement([...units.values()].map((ratings) => ({ ratings })));
    },

    async reviewList(queueId, limit = 50) {
      await requireQueue(queueId);
      const items = await db.query<{ item_id: string; round: number }>(
        `SELECT item_id, round FROM queue_items WHERE queue_id = $1 AND status = 'review' ORDER BY priority DESC, seq LIMIT $2`,
        [queueId, limit],
      );
      const out = [];
      for (const it of items) {
        const labels = (await labelRecords(db, queueId, it.item_id)).filter((l) => l.round === it.round);
        out.push({
          itemId: it.item_id,
          round: it.round,
          labels,
          agreement: pairwiseAgreement(labels.map((l) => l.category)),
        });
      }
      return out;
    },

    async review(user, queueId, itemId, decision, note) {
      await requireQueue(queueId);
      return db.transaction(async (tx) => {
        const rows = await tx.query<{ status: string; round: number }>(
          'SELECT status, round FROM queue_items WHERE queue_id = $1 AND item_id = $2 FOR UPDATE',
          [queueId, itemId],
        );
        if (!rows.length) throw notFound('item');
        if (rows[0].status !== 'review') throw conflict(`item is ${rows[0].status}, not waiting for review`);
        let { round } = rows[0];
        let status: string = decision === 'accept' ? 'accepted' : decision === 'reject' ? 'rejected' : 'open';
        if (decision === 'requeue') {
          await tx.query(
            `UPDATE assignments SET state = 'superseded' WHERE queue_id = $1 AND item_id = $2 AND round = $3 AND state = 'leased'`,
            [queueId, itemId, round],
          );
          round += 1;
          status = 'open';
        }
        await tx.query(
          `UPDATE queue_items SET status = $3, round = $4, review_decision = $5, review_note = $6, reviewed_by = $7, reviewed_at = now()
           WHERE queue_id = $1 AND item_id = $2`,
          [queueId, itemId, status, round, decision, note ?? null, user.id],
        );
        return { status, round };
      });
    },

    async setGold(queueId, itemId, input) {
      const queue = await requireQueue(queueId);
      const labels = parseLabels(queue, input, 'gold labels');
      const rows = await db.query<{ item_id: string }>(
        'UPDATE queue_items SET gold = true, gold_labels = $3, gold_category = $4 WHERE queue_id = $1 AND item_id = $2 RETURNING item_id',
        [queueId, itemId, JSON.stringify(labels), categoryOf(queue.taskType, labels)],
      );
      if (!rows.length) throw notFound('item');
    },

    async annotatorStats(queueId, annotator) {
      const params: unknown[] = [];
      const where: string[] = [];
      if (queueId) {
        params.push(queueId);
        where.push(`a.queue_id = $${params.length}`);
      }
      if (annotator) {
        params.push(annotator);
        where.push(`a.user_id = $${params.length}`);
      }
      const rows = await db.query<{
        user_id: string;
        submitted: number;
        skipped: number;
        released: number;
        expired: number;
        leased: number;
        median_seconds: number | null;
        gold_scored: number;
        gold_correct: number;
      }>(
        `SELECT a.user_id,
           count(*) FILTER (WHERE a.state = 'submitted')::int AS submitted,
           count(*) FILTER (WHERE a.state = 'skipped')::int AS skipped,
           count(*) FILTER (WHERE a.state = 'released')::int AS released,
           count(*) FILTER (WHERE a.state = 'expired' OR (a.state = 'leased' AND a.lease_expires_at <= now()))::int AS expired,
           count(*) FILTER (WHERE a.state = 'leased' AND a.lease_expires_at > now())::int AS leased,
           (percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.finished_at - a.claimed_at)) FILTER (WHERE a.state = 'submitted'))::float8 AS median_seconds,
           count(*) FILTER (WHERE a.state = 'submitted' AND qi.gold_category IS NOT NULL)::int AS gold_scored,
           count(*) FILTER (WHERE a.state = 'submitted' AND qi.gold_category IS NOT NULL AND a.category = qi.gold_category)::int AS gold_correct
         FROM assignments a JOIN queue_items qi ON qi.queue_id = a.queue_id AND qi.item_id = a.item_id
         ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
         GROUP BY a.user_id ORDER BY a.user_id`,
        params,
      );
      // Pairwise agreement with co-annotators: over items (same round) where the user and others submitted.
      const pairs = await db.query<{ user_id: string; agree: number; total: number }>(
        `SELECT a.user_id, count(*) FILTER (WHERE a.category = b.category)::int AS agree, count(*)::int AS total
         FROM assignments a JOIN assignments b ON b.queue_id = a.queue_id AND b.item_id = a.item_id AND b.round = a.round
           AND b.user_id <> a.user_id AND b.state = 'submitted'
         WHERE a.state = 'submitted' ${where.length ? `AND ${where.join(' AND ')}` : ''}
         GROUP BY a.user_id`,
        params,
      );
      const agreeBy = new Map(pairs.map((p) => [p.user_id, p.total ? p.agree / p.total : null]));
      return rows.map((r) => ({
        annotator: r.user_id,
        submitted: r.submitted,
        skipped: r.skipped,
        released: r.released,
        expired: r.expired,
        leased: r.leased,
        medianSecondsPerItem: r.median_seconds === null ? null : Math.round(r.median_seconds * 10) / 10,
        gold: {
          scored: r.gold_scored,
          correct: r.gold_correct,
          accuracy: r.gold_scored ? r.gold_correct / r.gold_scored : null,
        },
        pairwiseAgreement: agreeBy.get(r.user_id) ?? null,
      }));
    },

    async exportRows(queueId) {
      const queue = await requireQueue(queueId);
      const items = await db.query<{
        item_id: string;
        content: WorkItemContent;
        status: string;
        round: number;
        gold: boolean;
        review_decision: string | null;
        resource_type: string;
        source_kind: string;
        corrected_at: Date | null;
      }>(
        `SELECT qi.item_id, i.content, qi.status, qi.round, qi.gold, qi.review_decision, i.resource_type, i.source_kind,
                c.received_at AS corrected_at
         FROM queue_items qi JOIN items i ON i.id = qi.item_id LEFT JOIN item_corrections c ON c.item_id = qi.item_id
         WHERE qi.queue_id = $1 ORDER BY qi.seq`,
        [queueId],
      );
      const labels = await db.query<{
        item_id: string;
        id: string;
        user_id: string;
        round: number;
        labels: TaskLabels;
        category: string;
        finished_at: Date;
      }>(
        `SELECT item_id, id::text AS id, user_id, round, labels, category, finished_at FROM assignments
         WHERE queue_id = $1 AND state = 'submitted' ORDER BY item_id, round, id`,
        [queueId],
      );
      const byItem = new Map<string, LabelRecord[]>();
      for (const l of labels) {
        const list = byItem.get(l.item_id) ?? [];
        list.push({
          assignmentId: l.id,
          annotator: l.user_id,
          round: l.round,
          labels: l.labels,
          category: l.category,
          submittedAt: new Date(l.finished_at).toISOString(),
        });
        byItem.set(l.item_id, list);
      }
      return items.map((it) => ({
        queue: queueId,
        taskType: queue.taskType,
        itemId: it.item_id,
        resourceType: it.resource_type,
        sourceKind: it.source_kind,
        content: it.content,
        status: it.status,
        round: it.round,
        gold: it.gold,
        reviewDecision: it.review_decision,
        labels: (byItem.get(it.item_id) ?? []).filter((l) => l.round === it.round),
        ...(it.corrected_at ? { sourceCorrectedAt: new Date(it.corrected_at).toISOString() } : {}),
      }));
    },

    close: () => db.close(),
  };
}
