import { formatOf } from '../activities/connectors';
import type { PackedPage } from '../activities/pack';
import type { InstitutionRegistry, SourceKind } from '../schemas/institution';
import { checkEnvelope, type EnvelopeLimits, type FeedMessageView } from './envelope';
import { rangeOf, type LedgerRange } from './ledger';

/**
 * How one micro-batch of a topic partition splits: offsets already recorded in the ledger (their workflows are
 * re-started, nothing is staged again), messages whose envelope fails (DLQ, with a reason), and the rest grouped
 * into one page per institution and source, one part per message. Pure: the bridge does the I/O.
 */
export interface FeedBatchMessage extends FeedMessageView {
  partition: number;
  /** Kafka offset as a decimal string. */
  offset: string;
  /** Kafka timestamp (ms since the epoch, as kafkajs gives it): when the page was received, for work item versions. */
  timestamp?: string;
}

export interface PlannedPage {
  institution: string;
  source: SourceKind;
  page: PackedPage;
}

export interface FeedBatchPlan {
  topic: string;
  partition: number;
  /** Recorded ranges this batch's offsets fall in. */
  covered: LedgerRange[];
  /** Messages outside every recorded range: they become one new workflow. */
  fresh?: {
    firstOffset: string;
    lastOffset: string;
    consumed: number;
    dlq: { message: FeedBatchMessage; reason: string }[];
    pages: PlannedPage[];
  };
  /** The offset to commit once everything above is acknowledged: the batch's last offset + 1. */
  commitOffset: string;
}

export interface PlanContext {
  prefix: string;
  registry: InstitutionRegistry;
  limits: EnvelopeLimits;
}

export function planFeedBatch(
  topic: string,
  partition: number,
  messages: FeedBatchMessage[],
  ranges: readonly LedgerRange[],
  ctx: PlanContext,
): FeedBatchPlan {
  if (messages.length === 0) throw new RangeError('planFeedBatch needs at least one message');
  const covered = new Set<LedgerRange>();
  const fresh: FeedBatchMessage[] = [];
  for (const m of messages) {
    const range = rangeOf(ranges, BigInt(m.offset));
    if (range) covered.add(range);
    else fresh.push(m);
  }
  const commitOffset = (BigInt(messages[messages.length - 1].offset) + 1n).toString();
  if (fresh.length === 0) return { topic, partition, covered: [...covered], commitOffset };

  const dlq: { message: FeedBatchMessage; reason: string }[] = [];
  const groups = new Map<string, PlannedPage>();
  for (const m of fresh) {
    const check = checkEnvelope(m, ctx);
    if (!check.ok) {
      dlq.push({ message: m, reason: check.reason });
      continue;
    }
    const id = `${check.institution.id}/${check.source}`;
    let group = groups.get(id);
    if (!group) {
      group = {
        institution: check.institution.id,
        source: check.source,
        page: {
          format: formatOf(check.institution, check.source),
          sourceFile: `kafka:${topic}:${partition}`,
          parts: [],
        },
      };
      groups.set(id, group);
    }
    // The part name is where the record came from (issue locations, Provenance): stable across redeliveries.
    group.page.parts.push({ name: `kafka:${topic}:${partition}:${m.offset}`, bytes: m.value! });
    // The page's latest message time: the same for a redelivered range, unlike the time the bridge saw it.
    const at = Number(m.timestamp);
    if (m.timestamp && Number.isFinite(at) && at > 0) {
      const iso = new Date(at).toISOString();
      if (!group.page.receivedAt || iso > group.page.receivedAt) group.page.receivedAt = iso;
    }
  }
  return {
    topic,
    partition,
    covered: [...covered],
    fresh: {
      firstOffset: fresh[0].offset,
      lastOffset: fresh[fresh.length - 1].offset,
      consumed: fresh.length,
      dlq,
      pages: [...groups.values()],
    },
    commitOffset,
  };
}
