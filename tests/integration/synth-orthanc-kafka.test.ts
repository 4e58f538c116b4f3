import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSynth } from '../../synth/generate';
import { uploadStudiesToOrthanc } from '../../synth/orthanc-upload';
import { collectFeedMessages, pushFeeds } from '../../synth/push';
import { readGroundTruth } from '../../synth/verify';

// The synthetic hospitals against the real PACS (Orthanc, DICOMweb) and the real Kafka broker.
let root: string;

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'synth-int-'));
  // Three institutions: HIS CSV + GBK, HL7 v2, FHIR API; each with its own imaging.
  generateSynth({
    out: root,
    seed: `int-${crypto.randomBytes(3).toString('hex')}`,
    patients: 5,
    institutions: 3,
    force: true,
  });
});

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

describe('synth → Orthanc (STOW-RS)', () => {
  it('stores every study of each institution and QIDO-RS finds them with their instance counts', async () => {
    const orthancUrl = process.env.ORTHANC_URL!;
    const result = await uploadStudiesToOrthanc({ dir: root, orthancUrl });
    const gt = readGroundTruth(root);
    const expectedInstances = gt.expected
      .filter((e) => e.source === 'imaging')
      .reduce((n, e) => n + e.records, 0);
    expect(result.instances).toBe(expectedInstances);
    const uids = [
      ...new Set(gt.planted.filter((p) => p.type === 'uid' && p.path === '(0020,000D)').map((p) => p.value)),
    ];
    expect(uids.length).toBe(result.studies);
    for (const uid of uids) {
      const res = await fetch(
        `${orthancUrl.replace(/\/$/, '')}/dicom-web/studies?StudyInstanceUID=${uid}&includefield=00201208`,
        { headers: { Accept: 'application/dicom+json' } },
      );
      expect(res.status).toBe(200);
      const studies = (await res.json()) as Record<string, { Value?: unknown[] }>[];
      expect(studies).toHaveLength(1);
      expect(Number(studies[0]['00201208']?.Value?.[0])).toBeGreaterThanOrEqual(1);
    }
  });
});

describe('synth → Kafka', () => {
  it('pushes every feed message with institution headers, and breaks the configured share', async () => {
    const brokers = process.env.KAFKA_BROKERS!.split(',');
    const prefix = `synth-test-${crypto.randomBytes(4).toString('hex')}`;
    const expected = collectFeedMessages(root);
    const result = await pushFeeds({
      dir: root,
      brokers,
      topicPrefix: prefix,
      rate: 0,
      malformedShare: 0.2,
      seed: 'push-test',
    });
    expect(result.sent).toBe(expected.length);
    expect(result.malformed).toBeGreaterThan(0);
    expect(result.malformed).toBeLessThan(result.sent);

    const kafka = new Kafka({ clientId: 'synth-test', brokers, logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: `${prefix}-reader` });
    await consumer.connect();
    const topics = Object.keys(result.byTopic);
    await consumer.subscribe({ topics, fromBeginning: true });
    const seen = new Map<string, { value: Buffer; institution: string }>();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`only ${seen.size} of ${result.sent} messages consumed`)),
        60_000,
      );
      void consumer.run({
        eachMessage: async ({ message }) => {
          const id = message.headers?.['message-id']?.toString() ?? '';
          seen.set(id, {
            value: message.value ?? Buffer.alloc(0),
            institution: message.headers?.institution?.toString() ?? '',
          });
          if (seen.size >= result.sent) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    await consumer.disconnect();
    const broken = new Set(result.malformedIds);
    for (const m of expected) {
      const got = seen.get(m.messageId);
      expect(got, m.messageId).toBeDefined();
      expect(got!.institution).toBe(m.institution);
      if (broken.has(m.messageId)) expect(got!.value.length).toBeLessThan(m.value.length);
      else expect(got!.value.equals(m.value)).toBe(true);
    }
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics }).catch(() => undefined);
    await admin.disconnect();
  });
});
