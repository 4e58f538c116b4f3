import crypto from 'node:crypto';
import { Kafka, logLevel, type Consumer, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

describe('Kafka (real KRaft broker from the stack)', () => {
  const kafka = new Kafka({
    clientId: 'stack-probe',
    brokers: process.env.KAFKA_BROKERS!.split(','),
    logLevel: logLevel.NOTHING,
  });
  const topic = `stack-probe-${crypto.randomBytes(4).toString('hex')}`;
  let producer: Producer;
  let consumer: Consumer;

  beforeAll(async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
    await admin.disconnect();
    producer = kafka.producer({ idempotent: true });
    await producer.connect();
    consumer = kafka.consumer({ groupId: `${topic}-group` });
    await consumer.connect();
  });

  afterAll(async () => {
    await producer?.disconnect();
    await consumer?.disconnect();
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });

  it('round-trips keyed messages with headers through a consumer group, in order per key', async () => {
    const sent = Array.from({ length: 10 }, (_, i) => ({
      key: `k${i % 3}`,
      value: `message-${i}`,
      headers: { seq: String(i) },
    }));
    await producer.send({ topic, messages: sent, acks: -1 });

    const received: { key: string; value: string; seq: string; partition: number }[] = [];
    await consumer.subscribe({ topic, fromBeginning: true });
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`only ${received.length} of ${sent.length} messages arrived in 60s`)),
        60_000,
      );
      void consumer.run({
        eachMessage: async ({ message, partition }) => {
          received.push({
            key: message.key!.toString(),
            value: message.value!.toString(),
            seq: message.headers!.seq!.toString(),
            partition,
          });
          if (received.length === sent.length) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    await done;

    expect(received.map((r) => r.value).sort()).toEqual(sent.map((s) => s.value).sort());
    for (const key of ['k0', 'k1', 'k2']) {
      const mine = received.filter((r) => r.key === key);
      // Same key, same partition, and the broker keeps their order.
      expect(new Set(mine.map((r) => r.partition)).size).toBe(1);
      expect(mine.map((r) => Number(r.seq))).toEqual(
        [...mine.map((r) => Number(r.seq))].sort((a, b) => a - b),
      );
    }
  });
});
