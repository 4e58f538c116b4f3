import { digestOf, getJson, putJson, type BlobStore } from '../activities/staging';
import { TributaryError } from '../platform/errors';
import type { IngestFeedInput } from '../schemas/feed';

/**
 * Which offset ranges of a topic partition already became a feed workflow, kept in the (encrypted) staging store.
 *
 * Kafka redelivers from the last committed offset, but not in the same batches: a replay after a crash, a new
 * consumer group or a seek to the start cuts the same offsets differently, and `feed:<topic>:<partition>:<range>`
 * would then be a new id for messages already processed. So before a range becomes a workflow, its input is
 * recorded here; a redelivered offset inside a recorded range re-starts that range's workflow (an already started
 * id is success) instead of staging the message again. Entries hold keys, counts and offsets only.
 */
export interface LedgerRange {
  first: bigint;
  last: bigint;
  key: string;
}

const OFFSET_DIGITS = 20;

export function createFeedLedger(store: BlobStore) {
  const cache = new Map<string, LedgerRange[]>();
  const prefixOf = (topic: string, partition: number) =>
    `intake/ledger/${digestOf(topic).slice(0, 16)}/p${partition}`;

  async function rangesOf(topic: string, partition: number): Promise<LedgerRange[]> {
    const id = `${topic}\0${partition}`;
    let ranges = cache.get(id);
    if (!ranges) {
      ranges = [];
      for (const key of await store.list(`${prefixOf(topic, partition)}/`)) {
        const m = /\/(\d+)-(\d+)$/.exec(key);
        if (!m)
          throw new TributaryError('intake ledger entry has an unexpected key shape', {
            code: 'structure',
            location: 'intake ledger',
            nonRetryable: true,
          });
        ranges.push({ first: BigInt(m[1]), last: BigInt(m[2]), key });
      }
      cache.set(id, ranges);
    }
    return ranges;
  }

  return {
    rangesOf,

    /** Record a range before its workflow is started: from here on, its offsets belong to that workflow. */
    async record(input: IngestFeedInput): Promise<LedgerRange> {
      const key = `${prefixOf(input.topic, input.partition)}/${input.firstOffset.padStart(OFFSET_DIGITS, '0')}-${input.lastOffset.padStart(OFFSET_DIGITS, '0')}`;
      await putJson(store, key, input);
      const range = { first: BigInt(input.firstOffset), last: BigInt(input.lastOffset), key };
      const ranges = await rangesOf(input.topic, input.partition);
      if (!ranges.some((r) => r.key === key)) ranges.push(range);
      return range;
    },

    async inputOf(range: LedgerRange): Promise<IngestFeedInput> {
      return getJson<IngestFeedInput>(store, range.key);
    },
  };
}

export type FeedLedger = ReturnType<typeof createFeedLedger>;

/** The recorded range an offset falls in, if any. */
export function rangeOf(ranges: readonly LedgerRange[], offset: bigint): LedgerRange | undefined {
  return ranges.find((r) => offset >= r.first && offset <= r.last);
}
