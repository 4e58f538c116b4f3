import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRoutingRules, type RoutingRules } from './routing';
import { cardiologyItems, sampleItems } from './sample-items';
import { sealWorkItem } from './seal';
import { openQueueStore, type QueueStore, type User } from './store';

let store: QueueStore;
const rules = loadRoutingRules();
// A fast-lease copy of the cardiology queue for the expiry test.
const shortRules: RoutingRules = {
  ...rules,
  queues: [...rules.queues, { ...rules.queues[0], id: 'short-lease', leaseSeconds: 0.3, review: false }],
  rules: [
    {
      name: 'short',
      queue: 'short-lease',
      match: { textAny: ['short lease'] },
      priority: 1,
      annotators: 1,
      goldShare: 0,
    },
  ],
};

// A queue of its own for the batch test, so its items do not change the other tests' queues.
const batchRules: RoutingRules = {
  ...rules,
  queues: [...rules.queues, { ...rules.queues[0], id: 'batch-order' }],
  rules: [{ name: 'batch', queue: 'batch-order', match: {}, priority: 1, annotators: 1, goldShare: 0 }],
};

beforeAll(async () => {
  store = await openQueueStore({ dataDir: 'memory://' });
}, 60_000);
afterAll(async () => {
  await store?.close();
});

async function annotator(id: string, queues: string[]): Promise<User> {
  return (await store.addUser({ id, role: 'annotator', queues })).user;
}

describe('queue store (PGlite)', () => {
  it('routes sample items, counts a replayed batch as duplicates, and rejects items without a valid mark', async () => {
    const items = sampleItems(8);
    const first = await store.enqueue(items, rules);
    expect(first).toEqual({
      enqueued: 8,
      updated: 0,
      duplicates: 0,
      superseded: 0,
      conflicts: 0,
      unrouted: 0,
      byQueue: { cardiology: 4, 'radiology-chest': 2, pharmacy: 2 },
    });
    const replay = await store.enqueue(items, rules);
    expect(replay).toMatchObject({ enqueued: 0, duplicates: 8, byQueue: {} });

    const tampered = {
      ...items[0],
      id: 'sample-inst:ehr:x/tampered',
      summary: { title: 'changed after the gate' },
    };
    await expect(store.enqueue([tampered as (typeof items)[0]], rules)).rejects.toThrow(/work item \[0\]/);
    const { verification: _v, ...unmarked } = items[1];
    await expect(store.enqueue([unmarked as (typeof items)[0]], rules)).rejects.toThrow(/verification/);
    const failedGate = { ...items[1], verification: { ...items[1].verification, gate: 'failed' } };
    await expect(store.enqueue([failedGate as unknown as (typeof items)[0]], rules)).rejects.toThrow(/gate/);
    const changedContent = { ...items[0], text: 'edited' };
    await expect(store.enqueue([changedContent], rules)).rejects.toThrow(/digest does not match/);
    // The store trusts an item this process sealed without hashing it again, because it cannot be changed.
    const sealed = items[2] as unknown as { text?: string; summary: { title: string }; codes: unknown[] };
    expect(() => (sealed.text = 'edited')).toThrow(TypeError);
    expect(() => (sealed.summary.title = 'edited')).toThrow(TypeError);
    expect(() => sealed.codes.push({ system: 'x', code: 'y' })).toThrow(TypeError);
  });

  it('keeps the last version of an id repeated in one batch, and queues a batch in its order', async () => {
    const [a, b, c] = cardiologyItems(3, 'batch');
    const { verification: mark, ...content } = b;
    const otherB = sealWorkItem({ ...content, summary: { title: 'different content, same id' } }, mark);
    // b twice, then b with other content (a feed's later message): the last is stored, in b's first place.
    const result = await store.enqueue([a, b, b, otherB, c], batchRules);
    expect(result).toEqual({
      enqueued: 3,
      updated: 0,
      duplicates: 0,
      superseded: 2,
      conflicts: 0,
      unrouted: 0,
      byQueue: { 'batch-order': 3 },
    });
    const again = await store.enqueue([otherB, c, c], batchRules);
    expect(again).toMatchObject({ enqueued: 0, duplicates: 3, conflicts: 0, byQueue: {} });
    // The first b again, with no time of receipt: it cannot be told newer, so the stored version stands.
    expect(await store.enqueue([b], batchRules)).toMatchObject({ updated: 0, conflicts: 1 });
    // One annotator claims the batch in the order it was enqueued (same priority: first in, first out).
    const user = await annotator('batch-order', ['batch-order']);
    const claimed: string[] = [];
    // A skipped item is not offered to the same annotator again.
    for (
      let claim = await store.claimNext(user, 'batch-order');
      claim;
      claim = await store.claimNext(user, 'batch-order')
    ) {
      claimed.push(claim.item.itemId);
      await store.skip(user, claim.assignmentId, 'order test');
    }
    expect(claimed).toEqual([a.id, b.id, c.id]);
  });

  it('replaces a queued item with a version received later until an annotator begins it, and routes it by its new content', async () => {
    const versionRules: RoutingRules = {
      ...rules,
      queues: [
        ...rules.queues,
        { ...rules.queues[0], id: 'versions-alpha', review: false },
        { ...rules.queues[0], id: 'versions-beta', review: false },
      ],
      rules: ['alpha', 'beta'].map((word) => ({
        name: word,
        queue: `versions-${word}`,
        match: { textAny: [word] },
        priority: 1,
        annotators: 1,
        goldShare: 0,
      })),
    };
    const version = (id: string, text: string) => {
      const { verification: mark, ...content } = cardiologyItems(1, `versions-${id}`)[0];
      // Each version has pictures of its own (activities/previews.ts names their folder from them).
      const previews = [{ ref: `versions/${id}/${text.split(' ')[1]}/0.png`, caption: 'image 1 of 1' }];
      return sealWorkItem({ ...content, summary: { title: text }, text, previews }, mark);
    };
    const [x1, y1, z1] = [
      version('x', 'alpha first'),
      version('y', 'alpha first'),
      version('z', 'alpha first'),
    ];
    const t = (minute: number) => `2026-12-05T10:${String(minute).padStart(2, '0')}:00.000Z`;
    expect(await store.enqueue([x1, y1, z1], versionRules, { receivedAt: t(10) })).toMatchObject({
      enqueued: 3,
      byQueue: { 'versions-alpha': 3 },
    });
    // An annotator claims x and gives it back, and claims y: both have been begun, z has not.
    const first = await annotator('versions-first', ['versions-alpha', 'versions-beta']);
    const claimX = await store.claimNext(first, 'versions-alpha');
    expect(claimX?.item.itemId).toBe(x1.id);
    await store.skip(first, claimX!.assignmentId, 'not mine');
    expect((await store.claimNext(first, 'versions-alpha'))?.item.itemId).toBe(y1.id);

    const [x2, y2, z2] = [
      version('x', 'beta second'),
      version('y', 'beta second'),
      version('z', 'beta second'),
    ];
    // Older than the stored versions, or of unknown age: nothing changes.
    expect(await store.enqueue([z2], versionRules, { receivedAt: t(9) })).toMatchObject({
      updated: 0,
      conflicts: 1,
    });
    expect(await store.enqueue([z2], versionRules, { receivedAt: t(10) })).toMatchObject({
      updated: 0,
      conflicts: 1,
    });
    expect(await store.enqueue([z2], versionRules)).toMatchObject({ updated: 0, conflicts: 1 });
    // Later: z (never begun) is replaced and moves to the beta queue; x and y keep the content they were begun on.
    expect(await store.enqueue([x2, y2, z2], versionRules, { receivedAt: t(20) })).toEqual({
      enqueued: 0,
      updated: 1,
      duplicates: 0,
      superseded: 0,
      conflicts: 2,
      unrouted: 0,
      byQueue: { 'versions-beta': 1 },
    });
    // What prunePreviews keeps: the pictures of the versions stored (x's and y's first, z's second) and of the
    // corrections kept beside begun items (x's and y's second); z's first is no longer referred to.
    expect([...(await store.previewRefs())].filter((r) => r.startsWith('versions/')).sort()).toEqual([
      'versions/x/first/0.png',
      'versions/x/second/0.png',
      'versions/y/first/0.png',
      'versions/y/second/0.png',
      'versions/z/second/0.png',
    ]);
    // The same version again, received later still: a duplicate, not another update.
    expect(await store.enqueue([z2], versionRules, { receivedAt: t(30) })).toMatchObject({
      duplicates: 1,
      updated: 0,
    });
    const second = await annotator('versions-second', ['versions-alpha', 'versions-beta']);
    const fromAlpha: string[] = [];
    for (
      let c = await store.claimNext(second, 'versions-alpha');
      c;
      c = await store.claimNext(second, 'versions-alpha')
    ) {
      fromAlpha.push(`${c.item.itemId} ${c.item.summary.title}`);
      await store.skip(second, c.assignmentId, 'listing');
    }
    expect(fromAlpha).toEqual([`${x1.id} alpha first`]); // y is held by the first annotator's claim
    const fromBeta = await store.claimNext(second, 'versions-beta');
    expect(`${fromBeta?.item.itemId} ${fromBeta?.item.summary.title}`).toBe(`${z1.id} beta second`);
    // z is begun now: a later version no longer replaces it.
    expect(
      await store.enqueue([version('z', 'alpha third')], versionRules, { receivedAt: t(40) }),
    ).toMatchObject({
      updated: 0,
      conflicts: 1,
    });

    // Those corrections of begun items are kept beside them, and the exports say the labels' source was corrected.
    const correctedAt = async (queue: string) =>
      Object.fromEntries((await store.exportRows(queue)).map((r) => [r.itemId, r.sourceCorrectedAt]));
    expect(await correctedAt('versions-alpha')).toEqual({ [x1.id]: t(20), [y1.id]: t(20) });
    expect(await correctedAt('versions-beta')).toEqual({ [z1.id]: t(40) });
    // A correction received before the one kept does not take its place; x's first content received again after its
    // correction withdraws it.
    expect(
      await store.enqueue([version('y', 'beta early')], versionRules, { receivedAt: t(15) }),
    ).toMatchObject({
      conflicts: 1,
    });
    expect(await store.enqueue([x1], versionRules, { receivedAt: t(50) })).toMatchObject({ duplicates: 1 });
    expect(await correctedAt('versions-alpha')).toEqual({ [x1.id]: undefined, [y1.id]: t(20) });
    // x's correction withdrawn, its pictures are no longer referred to; z's correction (its third) is.
    expect([...(await store.previewRefs())].filter((r) => r.startsWith('versions/')).sort()).toEqual([
      'versions/x/first/0.png',
      'versions/y/first/0.png',
      'versions/y/second/0.png',
      'versions/z/second/0.png',
      'versions/z/third/0.png',
    ]);
    const counts = Object.fromEntries((await store.listQueues()).map((q) => [q.id, q.counts.corrected]));
    expect(counts).toMatchObject({ 'versions-alpha': 1, 'versions-beta': 1, cardiology: 0 });

    await expect(store.enqueue([x2], versionRules, { receivedAt: 'yesterday' })).rejects.toThrow(
      /enqueue receivedAt/,
    );
  });

  it('never gives one item to more annotators than its overlap, even with 20 claiming at once', async () => {
    await store.enqueue(cardiologyItems(4, 'conc'), rules);
    const users = await Promise.all(
      Array.from({ length: 20 }, (_, i) => annotator(`conc-${i}`, ['cardiology'])),
    );
    const taken = new Map<string, Set<string>>();
    const claimRound = async () => {
      const claims = await Promise.all(
        users.map((u) => store.claimNext(u, 'cardiology').then((c) => ({ u, c }))),
      );
      for (const { u, c } of claims) {
        if (!c) continue;
        const set = taken.get(c.item.itemId) ?? new Set();
        expect(set.has(u.id)).toBe(false);
        set.add(u.id);
        taken.set(c.item.itemId, set);
        await store.submit(u, c.assignmentId, { label: 'non-cardiac' });
      }
      return claims.filter((x) => x.c).length;
    };
    let total = 0;
    for (let r = 0; r < 2; r++) total += await claimRound();
    // 4 sample cardiology items + 4 new ones, each needing 2 annotators (all agree, so no extra annotator).
    expect(total).toBe(8 * 2);
    expect(await claimRound()).toBe(0);
    for (const [, set] of taken) expect(set.size).toBeLessThanOrEqual(2);
  });

  it('gives the same live lease back on a repeated claim, and returns an expired lease to the pool', async () => {
    const item = sealWorkItem(
      {
        id: 'short:ehr:Note/1',
        institution: 'x',
        sourceKind: 'ehr',
        resourceType: 'DocumentReference',
        summary: {},
        text: 'short lease test',
      },
      { policy: 'p', policyVersion: '1', keyId: 'k' },
    );
    await store.enqueue([item], shortRules);
    const a = await annotator('lease-a', ['short-lease']);
    const b = await annotator('lease-b', ['short-lease']);
    const c1 = await store.claimNext(a, 'short-lease');
    expect(c1?.item.itemId).toBe(item.id);
    expect((await store.claimNext(a, 'short-lease'))?.assignmentId).toBe(c1!.assignmentId);
    expect(await store.claimNext(b, 'short-lease')).toBeUndefined();
    await new Promise((r) => setTimeout(r, 450));
    const c2 = await store.claimNext(b, 'short-lease');
    expect(c2?.item.itemId).toBe(item.id);
    // A's lease expired and B holds the only slot: A's late submit is refused.
    await expect(store.submit(a, c1!.assignmentId, { label: 'non-cardiac' })).rejects.toThrow(
      /lease expired/,
    );
    const stats = await store.annotatorStats('short-lease', 'lease-a');
    expect(stats[0]).toMatchObject({ expired: 1, submitted: 0 });
  });

  it('adds an annotator on disagreement, keeps labels blind, then goes to review; gold scores annotators', async () => {
    const [item] = cardiologyItems(1, 'disagree');
    await store.enqueue([item], rules);
    const users = await Promise.all(['dis-a', 'dis-b', 'dis-c'].map((id) => annotator(id, ['cardiology'])));
    const claimThis = async (u: User) => {
      // Drain other open cardiology items for this user until this one comes up.
      for (;;) {
        const c = await store.claimNext(u, 'cardiology');
        if (!c) throw new Error('item not offered');
        if (c.item.itemId === item.id) return c;
        await store.skip(u, c.assignmentId, 'not this test');
      }
    };
    const ca = await claimThis(users[0]);
    await store.submit(users[0], ca.assignmentId, { label: 'acute-coronary-syndrome' });
    const cb = await claimThis(users[1]);
    // Blind: B sees no one's labels before (or after) submitting; a reviewer sees all.
    expect(await store.labels(users[1], 'cardiology', item.id)).toEqual([]);
    const r1 = await store.submit(users[1], cb.assignmentId, { label: 'non-cardiac' });
    expect(r1).toEqual({ status: 'open', required: 3 });
    expect((await store.labels(users[1], 'cardiology', item.id)).map((l) => l.annotator)).toEqual(['dis-b']);
    const cc = await claimThis(users[2]);
    const r2 = await store.submit(users[2], cc.assignmentId, { label: 'acute-coronary-syndrome' });
    expect(r2).toEqual({ status: 'review', required: 3 });

    const reviewer = (await store.addUser({ id: 'rev', role: 'reviewer' })).user;
    expect((await store.labels(reviewer, 'cardiology', item.id)).length).toBe(3);
    const list = await store.reviewList('cardiology');
    expect(list.find((r) => r.itemId === item.id)?.agreement).toBeCloseTo(1 / 3, 6);

    await store.setGold('cardiology', item.id, { label: 'acute-coronary-syndrome' });
    const stats = await store.annotatorStats('cardiology');
    expect(stats.find((s) => s.annotator === 'dis-a')?.gold).toEqual({ scored: 1, correct: 1, accuracy: 1 });
    expect(stats.find((s) => s.annotator === 'dis-b')?.gold).toEqual({ scored: 1, correct: 0, accuracy: 0 });

    expect(await store.review(reviewer, 'cardiology', item.id, 'requeue', 'disputed')).toEqual({
      status: 'open',
      round: 2,
    });
    await expect(store.review(reviewer, 'cardiology', item.id, 'accept')).rejects.toThrow(
      /not waiting for review/,
    );
  });

  it('validates labels per task type and queue label set, naming the field', async () => {
    const [item] = cardiologyItems(1, 'badlabel');
    await store.enqueue([item], rules);
    const u = await annotator('bad-labels', ['cardiology']);
    let c = await store.claimNext(u, 'cardiology');
    while (c && c.item.itemId !== item.id) {
      await store.skip(u, c.assignmentId, 'x');
      c = await store.claimNext(u, 'cardiology');
    }
    await expect(store.submit(u, c!.assignmentId, { label: 'not-a-label' })).rejects.toThrow(
      /labels is invalid:\n {2}label: not one of this queue's labels/,
    );
    await expect(store.submit(u, c!.assignmentId, { wrong: 1 })).rejects.toThrow(/label/);
    const other = await annotator('other', ['cardiology']);
    await expect(store.submit(other, c!.assignmentId, { label: 'non-cardiac' })).rejects.toThrow(
      /assignment not found/,
    );
    await expect(store.claimNext(other, 'pharmacy')).rejects.toThrow(/not assigned to you/);
  });

  it('computes queue agreement over the latest round of each item', async () => {
    const agreement = await store.agreement('cardiology');
    expect(agreement.units).toBeGreaterThanOrEqual(8);
    expect(agreement.cohensKappa.length).toBeGreaterThan(0);
  });
});
