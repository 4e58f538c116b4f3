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
      duplicates: 0,
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
  });

  it('counts ids repeated in one batch and re-sealed with other content, and queues a batch in its order', async () => {
    const [a, b, c] = cardiologyItems(3, 'batch');
    const { verification: mark, ...content } = b;
    const otherB = sealWorkItem({ ...content, summary: { title: 'different content, same id' } }, mark);
    // b twice (same content: a duplicate), then b with other content (a conflict); neither is queued twice.
    const result = await store.enqueue([a, b, b, otherB, c], batchRules);
    expect(result).toEqual({
      enqueued: 3,
      duplicates: 1,
      conflicts: 1,
      unrouted: 0,
      byQueue: { 'batch-order': 3 },
    });
    const again = await store.enqueue([otherB, c], batchRules);
    expect(again).toMatchObject({ enqueued: 0, duplicates: 1, conflicts: 1, byQueue: {} });
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
