import { describe, expect, it } from 'vitest';
import { loadInstitutionRegistry } from '../platform/institutions';
import { checkEnvelope, feedTopicOf, type FeedMessageView } from './envelope';

const registry = loadInstitutionRegistry();
const ctx = { prefix: 'feeds', registry, limits: { maxMessageBytes: 1000 } };
const hl7Headers = {
  institution: 'sh-ruijin-north',
  source: 'ehr',
  format: 'hl7v2',
  'content-type': 'application/hl7-v2',
  'message-id': 'sh-ruijin-north:ehr/hl7v2/a.hl7:1',
};

function msg(
  over: Partial<FeedMessageView> & { headers?: FeedMessageView['headers'] } = {},
): FeedMessageView {
  return {
    topic: 'feeds.hl7v2',
    key: Buffer.from('sh-ruijin-north'),
    value: Buffer.from('MSH|^~\\&|A\r'),
    headers: hl7Headers,
    ...over,
  };
}

describe('feed envelope check', () => {
  it('accepts a well-formed push, with headers as kafkajs delivers them (Buffers)', () => {
    const headers = Object.fromEntries(Object.entries(hl7Headers).map(([k, v]) => [k, Buffer.from(v)]));
    const check = checkEnvelope(msg({ headers }), ctx);
    expect(check.ok).toBe(true);
    if (check.ok)
      expect([check.institution.id, check.source, check.envelope.format]).toEqual([
        'sh-ruijin-north',
        'ehr',
        'hl7v2',
      ]);
  });

  it('refuses a push of a kind the registry says the institution does not send', () => {
    const his = {
      id: 'his-only',
      name: 'HIS',
      locale: 'zh-CN',
      timezone: 'Asia/Shanghai',
      ehr: { format: 'his-csv', encoding: 'gbk' },
    } as const;
    const partial = { ...ctx, registry: { version: 1 as const, institutions: [his] } };
    const check = checkEnvelope(
      msg({
        topic: 'feeds.wearable',
        key: Buffer.from('his-only'),
        headers: { institution: 'his-only', source: 'wearable', format: 'openmhealth' },
      }),
      partial,
    );
    expect(check).toEqual({
      ok: false,
      reason: 'header source: the registry says this institution sends no wearable',
    });
  });

  it('accepts each feed topic with its registry format (FHIR API on the fhir topic, wearable, labels, catalogs)', () => {
    const inst = 'riverside-general'; // fhir-api, apple-health, spl, pdex-formulary
    const cases = [
      ['fhir', 'ehr', 'fhir-api'],
      ['wearable', 'wearable', 'apple-health'],
      ['druglabel', 'druglabel', 'spl'],
      ['insurance', 'insurance', 'pdex-formulary'],
    ];
    for (const [topic, source, format] of cases) {
      const check = checkEnvelope(
        msg({
          topic: `feeds.${topic}`,
          key: Buffer.from(inst),
          headers: { institution: inst, source, format },
        }),
        ctx,
      );
      expect(check, topic).toMatchObject({ ok: true });
    }
  });

  it('names the header and why, never the value', () => {
    const reasons = [
      checkEnvelope(msg({ headers: { ...hl7Headers, institution: undefined } }), ctx),
      checkEnvelope(msg({ key: null, headers: { ...hl7Headers, institution: 'Zhang Wei' } }), ctx),
      checkEnvelope(
        msg({
          key: Buffer.from('nowhere-general'),
          headers: { ...hl7Headers, institution: 'nowhere-general' },
        }),
        ctx,
      ),
      checkEnvelope(msg({ headers: { ...hl7Headers, source: 'imaging' } }), ctx),
      checkEnvelope(msg({ headers: { ...hl7Headers, format: 'fhir-api' } }), ctx),
      checkEnvelope(msg({ key: Buffer.from('lakeview-medical') }), ctx),
      checkEnvelope(
        msg({
          headers: {
            ...hl7Headers,
            institution: [Buffer.from('sh-ruijin-north'), Buffer.from('lakeview-medical')],
          },
        }),
        ctx,
      ),
    ].map((c) => (c.ok ? 'ok' : c.reason));
    expect(reasons).toEqual([
      'header institution: missing',
      'header institution: an institution id',
      'header institution: not in the institution registry',
      'header source: topic hl7v2 carries source ehr',
      "header format: the registry's ehr format for this institution is hl7v2",
      'key: does not match header institution (the key is the institution id)',
      'header institution: repeated 2 times',
    ]);
    for (const r of reasons) expect(r).not.toMatch(/Zhang|nowhere|lakeview/);
  });

  it('refuses an EHR format on the other EHR topic, an empty value, an oversize value and a foreign topic', () => {
    // riverside-general's EHR is fhir-api: its (correct) format header on the hl7v2 topic is still the wrong feed.
    const wrongTopic = checkEnvelope(
      msg({
        key: Buffer.from('riverside-general'),
        headers: { institution: 'riverside-general', source: 'ehr', format: 'fhir-api' },
      }),
      ctx,
    );
    expect(wrongTopic).toEqual({ ok: false, reason: 'header format: topic hl7v2 carries hl7v2 only' });
    expect(checkEnvelope(msg({ value: Buffer.alloc(0) }), ctx)).toEqual({
      ok: false,
      reason: 'value: empty',
    });
    expect(checkEnvelope(msg({ value: null }), ctx)).toEqual({ ok: false, reason: 'value: empty' });
    expect(checkEnvelope(msg({ value: Buffer.alloc(1001) }), ctx)).toEqual({
      ok: false,
      reason: 'value: 1001 bytes, over the 1000-byte limit',
    });
    expect(checkEnvelope(msg({ topic: 'other.hl7v2' }), ctx)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^topic: not a feed topic/),
    });
  });

  it('maps topics to feeds only under the prefix', () => {
    expect(feedTopicOf('feeds.fhir', 'feeds')).toBe('fhir');
    expect(feedTopicOf('feeds.dlq', 'feeds')).toBeUndefined();
    expect(feedTopicOf('feedsx.fhir', 'feeds')).toBeUndefined();
  });
});
