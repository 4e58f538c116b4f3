import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { unpackPage, packPage } from '../activities/pack';
import { createFileBlobStore, type BlobStore } from '../activities/staging';
import { loadInstitutionRegistry } from '../platform/institutions';
import type { IngestFeedInput } from '../schemas/feed';
import { createFeedLedger } from './ledger';
import { planFeedBatch, type FeedBatchMessage } from './plan';

const ctx = { prefix: 'feeds', registry: loadInstitutionRegistry(), limits: { maxMessageBytes: 10_000 } };

function hl7(
  offset: number,
  institution = 'sh-ruijin-north',
  over: Partial<FeedBatchMessage> = {},
): FeedBatchMessage {
  return {
    topic: 'feeds.hl7v2',
    partition: 1,
    offset: String(offset),
    key: Buffer.from(institution),
    value: Buffer.from(`MSH|^~\\&|A|B|C|D|20240101||ADT^A01|M${offset}|P|2.5\r`),
    headers: { institution, source: 'ehr', format: 'hl7v2' },
    ...over,
  };
}

function input(first: string, last: string): IngestFeedInput {
  return {
    runId: 'feeds',
    topic: 'feeds.hl7v2',
    partition: 1,
    firstOffset: first,
    lastOffset: last,
    consumed: 1,
    dlq: 0,
    pages: [],
    route: true,
    imagingQueue: 'imaging',
  };
}

describe('planning a feed micro-batch', () => {
  it('groups valid messages into one page per institution and source, one part per message, in offset order', () => {
    const plan = planFeedBatch('feeds.hl7v2', 1, [hl7(10), hl7(11, 'lakeview-medical'), hl7(12)], [], ctx);
    expect(plan.covered).toEqual([]);
    expect(plan.commitOffset).toBe('13');
    expect(plan.fresh).toMatchObject({ firstOffset: '10', lastOffset: '12', consumed: 3, dlq: [] });
    const pages = plan.fresh!.pages.map((p) => ({
      inst: p.institution,
      source: p.source,
      format: p.page.format,
      parts: p.page.parts.map((x) => x.name),
    }));
    expect(pages).toEqual([
      {
        inst: 'sh-ruijin-north',
        source: 'ehr',
        format: 'hl7v2',
        parts: ['kafka:feeds.hl7v2:1:10', 'kafka:feeds.hl7v2:1:12'],
      },
      { inst: 'lakeview-medical', source: 'ehr', format: 'hl7v2', parts: ['kafka:feeds.hl7v2:1:11'] },
    ]);
    // The staged page round-trips with the original bytes of each message.
    const page = unpackPage(packPage(plan.fresh!.pages[0].page), 'test');
    expect(page.parts[1].bytes.toString()).toContain('|M12|');
    expect(page.receivedAt).toBeUndefined(); // no Kafka timestamps: when is unknown, not now
  });

  it("dates each page by its latest message's Kafka timestamp, the same on every redelivery", () => {
    const at = (ms: number) => ({ timestamp: String(Date.parse('2026-12-05T10:00:00Z') + ms) });
    const messages = [
      hl7(10, undefined, at(5_000)),
      hl7(11, 'lakeview-medical', at(1_000)),
      hl7(12, undefined, at(2_000)),
    ];
    const pages = planFeedBatch('feeds.hl7v2', 1, messages, [], ctx).fresh!.pages;
    expect(pages.map((p) => [p.institution, p.page.receivedAt])).toEqual([
      ['sh-ruijin-north', '2026-12-05T10:00:05.000Z'],
      ['lakeview-medical', '2026-12-05T10:00:01.000Z'],
    ]);
    expect(unpackPage(packPage(pages[0].page), 'test').receivedAt).toBe('2026-12-05T10:00:05.000Z');
  });

  it('uses the mapper format for FHIR API feeds and sends envelope failures to the DLQ with their reason', () => {
    const fhir: FeedBatchMessage = {
      topic: 'feeds.fhir',
      partition: 0,
      offset: '5',
      key: null,
      value: Buffer.from('{"resourceType":"Patient"}'),
      headers: { institution: 'riverside-general', source: 'ehr', format: 'fhir-api' },
    };
    const bad: FeedBatchMessage = { ...fhir, offset: '6', headers: { source: 'ehr', format: 'fhir-api' } };
    const plan = planFeedBatch('feeds.fhir', 0, [fhir, bad], [], ctx);
    expect(plan.fresh!.pages.map((p) => p.page.format)).toEqual(['fhir']);
    expect(plan.fresh!.dlq.map((d) => [d.message.offset, d.reason])).toEqual([
      ['6', 'header institution: missing'],
    ]);
    expect(plan.fresh!.consumed).toBe(2);
  });

  it('leaves offsets inside a recorded range out of the new range, whatever the new cut', () => {
    const ranges = [
      { first: 0n, last: 6n, key: 'a' },
      { first: 7n, last: 13n, key: 'b' },
    ];
    const replay = planFeedBatch(
      'feeds.hl7v2',
      1,
      [4, 5, 6, 7, 8].map((o) => hl7(o)),
      ranges,
      ctx,
    );
    expect(replay.covered.map((r) => r.key)).toEqual(['a', 'b']);
    expect(replay.fresh).toBeUndefined();
    expect(replay.commitOffset).toBe('9');
    const tail = planFeedBatch(
      'feeds.hl7v2',
      1,
      [12, 13, 14, 15].map((o) => hl7(o)),
      ranges,
      ctx,
    );
    expect(tail.covered.map((r) => r.key)).toEqual(['b']);
    expect(tail.fresh).toMatchObject({ firstOffset: '14', lastOffset: '15', consumed: 2 });
  });
});

describe('intake ledger', () => {
  let root: string;
  let store: BlobStore;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'intake-ledger-'));
    store = createFileBlobStore({ root, key: { key: crypto.randomBytes(32) } });
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('records ranges per topic partition, survives a restart and returns the recorded input', async () => {
    const ledger = createFeedLedger(store);
    await ledger.record(input('0', '6'));
    await ledger.record(input('7', '99999999999'));
    await ledger.record({ ...input('0', '3'), partition: 2 });
    // A new process (new cache) reads the same ranges from the store.
    const again = createFeedLedger(store);
    const ranges = await again.rangesOf('feeds.hl7v2', 1);
    expect(ranges.map((r) => [r.first, r.last])).toEqual([
      [0n, 6n],
      [7n, 99999999999n],
    ]);
    expect(await again.inputOf(ranges[1])).toEqual(input('7', '99999999999'));
    expect((await again.rangesOf('feeds.hl7v2', 2)).length).toBe(1);
    expect(await again.rangesOf('feeds.fhir', 1)).toEqual([]);
  });

  it('recording the same range twice keeps one entry', async () => {
    const ledger = createFeedLedger(store);
    await ledger.record(input('0', '6'));
    await ledger.record(input('0', '6'));
    expect(await ledger.rangesOf('feeds.hl7v2', 1)).toHaveLength(1);
    expect(await store.list('intake/ledger')).toHaveLength(1);
  });
});
