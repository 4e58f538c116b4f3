/**
 * `tributary synth push`: act as the hospitals pushing feeds to Kafka: HL7 v2 messages, FHIR resources, wearable
 * exports, drug labels and catalog updates, at a given rate, with a configurable share deliberately broken.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Kafka, logLevel, type Message } from 'kafkajs';
import { TributaryError, toError } from '../platform/errors';
import type { SourceKind } from '../schemas/institution';
import { listFiles, readSynthInstitutions, splitHl7Messages } from './verify';
import { Rng } from './prng';

export const FEED_TOPICS = ['hl7v2', 'fhir', 'wearable', 'druglabel', 'insurance'] as const;
export type FeedTopic = (typeof FEED_TOPICS)[number];

export interface PushFeedsInput {
  dir: string;
  brokers: string[];
  /** Topics are `<topicPrefix>.<hl7v2|fhir|wearable|druglabel|insurance>`. */
  topicPrefix: string;
  /** Messages per second over all topics; 0 = as fast as the broker takes them. */
  rate: number;
  /** Share (0..1) of messages sent truncated on purpose. */
  malformedShare: number;
  institutions?: string[];
  feeds?: FeedTopic[];
  /** Seeds which messages are broken (default "push"). */
  seed?: string;
  /** Stop after this many messages (default: everything). */
  limit?: number;
}

export interface FeedMessage {
  topic: FeedTopic;
  institution: string;
  source: SourceKind;
  format: string;
  contentType: string;
  /** Stable per message: `<institution>:<file>:<n>`. */
  messageId: string;
  value: Buffer;
}

export interface PushFeedsResult {
  sent: number;
  malformed: number;
  byTopic: Record<string, { sent: number; malformed: number }>;
  /** Which messages were broken on purpose (ids, never contents). */
  malformedIds: string[];
  seconds: number;
}

/** Everything the institutions would push, in a stable order (institution, then topic, then file order). */
export function collectFeedMessages(
  dir: string,
  opts: { institutions?: string[]; feeds?: readonly FeedTopic[] } = {},
): FeedMessage[] {
  const feeds = new Set(opts.feeds ?? FEED_TOPICS);
  const out: FeedMessage[] = [];
  for (const inst of readSynthInstitutions(dir).filter(
    (i) => !opts.institutions || opts.institutions.includes(i.id),
  )) {
    const base = path.join(dir, inst.id);
    const filesIn = (sub: string) => listFiles(path.join(base, sub)).map((f) => `${sub}/${f}`);
    if (feeds.has('hl7v2') && inst.ehr?.format === 'hl7v2') {
      for (const f of filesIn('ehr/hl7v2')) {
        splitHl7Messages(fs.readFileSync(path.join(base, f), 'utf8')).forEach((m, i) =>
          out.push({
            topic: 'hl7v2',
            institution: inst.id,
            source: 'ehr',
            format: 'hl7v2',
            contentType: 'application/hl7-v2; charset=utf-8',
            messageId: `${inst.id}:${f}:${i + 1}`,
            value: Buffer.from(m + '\r', 'utf8'),
          }),
        );
      }
    }
    if (feeds.has('fhir') && inst.ehr?.format === 'fhir-api') {
      for (const f of filesIn('ehr/fhir')) {
        fs.readFileSync(path.join(base, f), 'utf8')
          .split('\n')
          .filter(Boolean)
          .forEach((line, i) =>
            out.push({
              topic: 'fhir',
              institution: inst.id,
              source: 'ehr',
              format: 'fhir-api',
              contentType: 'application/fhir+json',
              messageId: `${inst.id}:${f}:${i + 1}`,
              value: Buffer.from(line, 'utf8'),
            }),
          );
      }
    }
    const wholeFiles = (topic: FeedTopic, source: SourceKind, sub: string, format: string) => {
      if (!feeds.has(topic)) return;
      for (const f of filesIn(sub)) {
        const ext = path.extname(f);
        out.push({
          topic,
          institution: inst.id,
          source,
          format,
          contentType:
            ext === '.xml'
              ? 'application/xml'
              : ext === '.txt'
                ? 'text/plain; charset=utf-8'
                : 'application/json',
          messageId: `${inst.id}:${f}:1`,
          value: fs.readFileSync(path.join(base, f)),
        });
      }
    };
    if (inst.wearable) wholeFiles('wearable', 'wearable', 'wearable', inst.wearable.format);
    if (inst.druglabel) wholeFiles('druglabel', 'druglabel', 'druglabel', inst.druglabel.format);
    if (inst.insurance) wholeFiles('insurance', 'insurance', 'insurance', inst.insurance.format);
  }
  return out;
}

export async function pushFeeds(input: PushFeedsInput): Promise<PushFeedsResult> {
  if (!(input.malformedShare >= 0 && input.malformedShare <= 1))
    throw new TributaryError('malformedShare must be between 0 and 1', {
      code: 'invalid',
      location: '--malformed-share',
      nonRetryable: true,
    });
  if (!(input.rate >= 0))
    throw new TributaryError('rate must be 0 or more messages per second', {
      code: 'invalid',
      location: '--rate',
      nonRetryable: true,
    });
  const all = collectFeedMessages(input.dir, input);
  const messages = input.limit !== undefined ? all.slice(0, input.limit) : all;
  const rng = new Rng(input.seed ?? 'push', `malformed:${input.topicPrefix}`);
  const kafka = new Kafka({
    clientId: 'tributary-synth-push',
    brokers: input.brokers,
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  const result: PushFeedsResult = { sent: 0, malformed: 0, byTopic: {}, malformedIds: [], seconds: 0 };
  const started = performance.now();
  try {
    await admin.connect();
    const topics = [...new Set(messages.map((m) => `${input.topicPrefix}.${m.topic}`))];
    await admin.createTopics({
      topics: topics.map((topic) => ({ topic, numPartitions: 3 })),
      waitForLeaders: true,
    });
    await admin.disconnect();
    await producer.connect();
    // Send in ticks of 100 ms so the rate holds without one request per message.
    const perTick = input.rate > 0 ? Math.max(1, Math.round(input.rate / 10)) : 500;
    for (let i = 0; i < messages.length; i += perTick) {
      const tickStart = performance.now();
      const batch = messages.slice(i, i + perTick);
      const byTopic = new Map<string, Message[]>();
      for (const m of batch) {
        const broken = rng.chance(input.malformedShare);
        const value = broken ? m.value.subarray(0, Math.max(1, Math.floor(m.value.length / 2))) : m.value;
        const topic = `${input.topicPrefix}.${m.topic}`;
        byTopic.set(topic, [
          ...(byTopic.get(topic) ?? []),
          {
            key: m.institution,
            value,
            headers: {
              institution: m.institution,
              format: m.format,
              source: m.source,
              'content-type': m.contentType,
              'message-id': m.messageId,
            },
          },
        ]);
        const t = (result.byTopic[topic] ??= { sent: 0, malformed: 0 });
        t.sent++;
        result.sent++;
        if (broken) {
          t.malformed++;
          result.malformed++;
          result.malformedIds.push(m.messageId);
        }
      }
      await producer.sendBatch({
        topicMessages: [...byTopic].map(([topic, msgs]) => ({ topic, messages: msgs })),
      });
      if (input.rate > 0) {
        const wait = 100 - (performance.now() - tickStart);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    }
  } catch (e) {
    throw new TributaryError(`pushing feeds to Kafka failed: ${toError(e).message}`, {
      code: 'transient',
      location: input.brokers.join(','),
      cause: e,
    });
  } finally {
    await producer.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
  result.seconds = (performance.now() - started) / 1000;
  return result;
}
