import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRoutingRules } from '../../annotation/routing';
import { cardiologyItems, samplePlantedValues } from '../../annotation/sample-items';
import { sealWorkItem } from '../../annotation/seal';
import { describeAnnotationApi } from '../../annotation/server-suite';
import { openQueueStore, type QueueStore } from '../../annotation/store';
import { buildSynthWorkItems } from './annotation-synth-items';
import { dropSchema } from './pg-support';

/**
 * The annotation API's security, concurrency and agreement suite on the stack's real PostgreSQL (many connections,
 * real row locks), each run in its own schema, dropped afterwards.
 */
const url = process.env.DATABASE_URL;
if (!url)
  throw new Error(
    'DATABASE_URL is not set: the integration global setup (tests/integration/global-setup.ts) provides it',
  );
const databaseUrl: string = url;

const apiSchema = `annotation_test_${crypto.randomBytes(4).toString('hex')}`;
// Items from the generator's institutions through the de-id engine; every response is scanned for the generator's
// planted values (ground truth) as well as the sample fixtures' own.
const synth = await buildSynthWorkItems({ seed: 'annotation-leak', patients: 2 });
// The same records under a second key. A planted value found in an item under both keys was not transformed: a leak.
// One found under one key only is a transformed value (a shifted date, a surrogate) that happens to equal another
// planted value, which says nothing about de-identification. Items come out in record order under either key, so
// the i-th items are the same record.
const synthOtherKey = await buildSynthWorkItems({
  seed: 'annotation-leak',
  patients: 2,
  keySecret: 'annotation-leak-test-2',
});
const plantedLower = [...new Set(synth.planted.map((v) => v.toLowerCase()).filter((v) => v.length >= 4))];
const sameRecords =
  synthOtherKey.items.length === synth.items.length &&
  synth.items.every(
    (it, i) =>
      it.institution === synthOtherKey.items[i].institution &&
      it.resourceType === synthOtherKey.items[i].resourceType,
  );
const untransformed = new Set<string>();
const inAnyItem = new Set<string>();
synth.items.forEach((item, i) => {
  const a = JSON.stringify(item).toLowerCase();
  const b = JSON.stringify(synthOtherKey.items[i] ?? '').toLowerCase();
  for (const v of plantedLower) {
    if (!a.includes(v)) continue;
    inAnyItem.add(v);
    if (b.includes(v)) untransformed.add(v);
  }
});
const keyDependent = new Set([...inAnyItem].filter((v) => !untransformed.has(v)));
describeAnnotationApi({
  name: 'annotation API on PostgreSQL',
  openStore: () => openQueueStore({ databaseUrl, schema: apiSchema, poolSize: 24 }),
  cleanup: () => dropSchema(apiSchema),
  planted: [...samplePlantedValues(), ...synth.planted],
  // Strict: every planted value is a failure in an item, except those explained by the key (see above).
  strictValues: [...samplePlantedValues(), ...synth.planted]
    .map((v) => v.toLowerCase())
    .filter((v) => !keyDependent.has(v)),
  extraItems: async () => synth.items,
  minItemsViewed: 20,
});

it('builds work items from the generator through the de-id engine', () => {
  expect(synth.items.length).toBeGreaterThan(20);
  expect(synth.planted.length).toBeGreaterThan(100);
});

it('lets no planted value through de-identification into a work item (same value under two keys)', () => {
  // Counts only, never the values: a failure names how many and of which kind of match.
  expect(sameRecords, 'the two keys built items from the same records in the same order').toBe(true);
  expect(untransformed.size, `${untransformed.size} planted values reached work items untransformed`).toBe(0);
});

describe('queue store on PostgreSQL: 20 claimers on separate connections', () => {
  const schema = `annotation_test_${crypto.randomBytes(4).toString('hex')}`;
  let store: QueueStore;
  beforeAll(async () => {
    store = await openQueueStore({ databaseUrl, schema, poolSize: 24 });
  });
  afterAll(async () => {
    await store?.close();
    await dropSchema(schema);
  });

  it('applies migrations once even when two stores open at the same time', async () => {
    const [a, b] = await Promise.all([
      openQueueStore({ databaseUrl, schema }),
      openQueueStore({ databaseUrl, schema }),
    ]);
    await Promise.all([a.close(), b.close()]);
  });

  it('hands each item to exactly its overlap of distinct annotators under concurrent claims', async () => {
    const rules = loadRoutingRules();
    await store.enqueue(cardiologyItems(40, 'pgconc'), rules);
    const users = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        store.addUser({ id: `pg-${i}`, role: 'annotator', queues: ['cardiology'] }),
      ),
    );
    const perItem = new Map<string, string[]>();
    await Promise.all(
      users.map(async ({ user }) => {
        for (;;) {
          const c = await store.claimNext(user, 'cardiology');
          if (!c) return;
          perItem.set(c.item.itemId, [...(perItem.get(c.item.itemId) ?? []), user.id]);
          await store.submit(user, c.assignmentId, { label: 'non-cardiac' });
        }
      }),
    );
    expect(perItem.size).toBe(40);
    for (const [, who] of perItem) expect(new Set(who).size).toBe(2);
    expect([...perItem.values()].flat()).toHaveLength(80);
  });

  it('replaces items with a later version while 20 annotators claim them: none begun is replaced, every claim sees the version that stays', async () => {
    const rules = loadRoutingRules();
    const first = cardiologyItems(40, 'pgversion');
    await store.enqueue(first, rules, { receivedAt: '2026-12-05T10:00:00.000Z' });
    const corrected = first.map(({ verification: mark, ...content }) =>
      sealWorkItem({ ...content, summary: { ...content.summary, title: 'Note, corrected' } }, mark),
    );
    const users = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        store.addUser({ id: `pgv-${i}`, role: 'annotator', queues: ['cardiology'] }),
      ),
    );
    const seen = new Map<string, Set<string>>();
    let replaced = false;
    const replacing = store
      .enqueue(corrected, rules, { receivedAt: '2026-12-05T11:00:00.000Z' })
      .finally(() => (replaced = true));
    await Promise.all(
      users.map(async ({ user }) => {
        for (;;) {
          const c = await store.claimNext(user, 'cardiology');
          if (!c) {
            // Rows being replaced are locked and skipped: wait for the new version's rows before giving up.
            if (replaced) return;
            await new Promise((r) => setTimeout(r, 20));
            continue;
          }
          if (!c.item.itemId.startsWith('pgversion:')) {
            await store.skip(user, c.assignmentId, 'another test');
            continue;
          }
          seen.set(c.item.itemId, (seen.get(c.item.itemId) ?? new Set()).add(c.item.summary.title ?? ''));
          await store.submit(user, c.assignmentId, { label: 'non-cardiac' });
        }
      }),
    );
    const result = await replacing;
    expect(result.updated + result.conflicts).toBe(40);
    expect(seen.size).toBe(40);
    // One version per item across all its claims: a claim never saw content that was replaced after it.
    for (const titles of seen.values()) expect(titles.size).toBe(1);
    const correctedItems = [...seen.values()].filter((t) => t.has('Note, corrected')).length;
    expect(correctedItems).toBe(result.updated);
    // Each item begun on its first version keeps the correction beside it, and its labels' export says so.
    const exported = (await store.exportRows('cardiology')).filter((r) => r.itemId.startsWith('pgversion:'));
    expect(exported).toHaveLength(40);
    for (const row of exported)
      expect(row.sourceCorrectedAt, row.itemId).toBe(
        seen.get(row.itemId)!.has('Note, corrected') ? undefined : '2026-12-05T11:00:00.000Z',
      );
  });

  it('keeps the version received last when two arrive at once on separate connections, whichever commits first', async () => {
    const rules = loadRoutingRules();
    const titled = (items: ReturnType<typeof cardiologyItems>, title: string) =>
      items.map(({ verification: mark, ...content }) =>
        sealWorkItem({ ...content, summary: { ...content.summary, title } }, mark),
      );
    const { user: admin } = await store.addUser({ id: 'pgv-admin', role: 'admin' });
    for (const round of [0, 1, 2, 3]) {
      const items = cardiologyItems(30, `pgrace${round}`);
      await store.enqueue(items, rules, { receivedAt: '2026-12-05T10:00:00.000Z' });
      const late = () =>
        store.enqueue(titled(items, 'received 11:00'), rules, { receivedAt: '2026-12-05T11:00:00.000Z' });
      const early = () =>
        store.enqueue(titled(items, 'received 10:30'), rules, { receivedAt: '2026-12-05T10:30:00.000Z' });
      // Either call may start (and lock) first.
      const [a, b] = round % 2 ? await Promise.all([late(), early()]) : await Promise.all([early(), late()]);
      expect(a.updated + b.updated + a.conflicts + b.conflicts).toBe(60);
      const titles = new Set(
        await Promise.all(
          items.map(async (i) => (await store.viewItem(admin, 'cardiology', i.id))?.summary.title),
        ),
      );
      expect([...titles]).toEqual(['received 11:00']);
    }
  });
});
