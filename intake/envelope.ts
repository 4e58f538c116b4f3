import {
  feedEnvelopeSchema,
  FEED_TOPIC_SOURCES,
  feedTopicSchema,
  type FeedEnvelope,
  type FeedTopic,
} from '../schemas/feed';
import {
  registryFormatOf,
  sourcesOf,
  type Institution,
  type InstitutionRegistry,
  type SourceKind,
} from '../schemas/institution';

/**
 * The intake edge: one pushed message's envelope (topic, key, headers, value size) checked once against the feed
 * schema and the institution registry. A rejection reason names the header or field and why, never its value: it
 * goes into the DLQ header a hospital integrator reads, and into logs.
 */

/** Header values as kafkajs delivers them. */
export type KafkaHeaderValue = Buffer | string | (Buffer | string)[] | undefined;

export interface FeedMessageView {
  topic: string;
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, KafkaHeaderValue>;
}

export type EnvelopeCheck =
  | { ok: true; envelope: FeedEnvelope; institution: Institution; source: SourceKind }
  | { ok: false; reason: string };

export interface EnvelopeLimits {
  maxMessageBytes: number;
}

/** The default value limit: Kafka's own default message limit is 1 MiB; a bigger feed file is configured on purpose. */
export const DEFAULT_MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

/** `<prefix>.<feed>` → the feed, or undefined for a topic that is not a feed topic of this prefix. */
export function feedTopicOf(topic: string, prefix: string): FeedTopic | undefined {
  if (!topic.startsWith(`${prefix}.`)) return undefined;
  const parsed = feedTopicSchema.safeParse(topic.slice(prefix.length + 1));
  return parsed.success ? parsed.data : undefined;
}

export function checkEnvelope(
  message: FeedMessageView,
  ctx: { prefix: string; registry: InstitutionRegistry; limits: EnvelopeLimits },
): EnvelopeCheck {
  const feed = feedTopicOf(message.topic, ctx.prefix);
  if (!feed)
    return {
      ok: false,
      reason: `topic: not a feed topic of prefix ${ctx.prefix} (${Object.keys(FEED_TOPIC_SOURCES).join(', ')})`,
    };
  const headers = decodeHeaders(message.headers);
  if (typeof headers === 'string') return { ok: false, reason: headers };
  const parsed = feedEnvelopeSchema.safeParse(headers);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = String(issue.path[0] ?? '(headers)');
    const missing = headers[field] === undefined;
    return { ok: false, reason: `header ${field}: ${missing ? 'missing' : issue.message}` };
  }
  const envelope = parsed.data;
  const institution = ctx.registry.institutions.find((i) => i.id === envelope.institution);
  if (!institution) return { ok: false, reason: 'header institution: not in the institution registry' };
  if (message.key && message.key.length > 0 && message.key.toString('utf8') !== envelope.institution) {
    return { ok: false, reason: 'key: does not match header institution (the key is the institution id)' };
  }
  const expected = FEED_TOPIC_SOURCES[feed];
  if (envelope.source !== expected.source)
    return { ok: false, reason: `header source: topic ${feed} carries source ${expected.source}` };
  if (!sourcesOf(institution).includes(envelope.source))
    return {
      ok: false,
      reason: `header source: the registry says this institution sends no ${envelope.source}`,
    };
  const registered = registryFormatOf(institution, envelope.source);
  if (envelope.format !== registered) {
    return {
      ok: false,
      reason: `header format: the registry's ${envelope.source} format for this institution is ${registered}`,
    };
  }
  if (expected.ehrFormat && expected.ehrFormat !== registered) {
    return { ok: false, reason: `header format: topic ${feed} carries ${expected.ehrFormat} only` };
  }
  const size = message.value?.length ?? 0;
  if (size === 0) return { ok: false, reason: 'value: empty' };
  if (size > ctx.limits.maxMessageBytes)
    return { ok: false, reason: `value: ${size} bytes, over the ${ctx.limits.maxMessageBytes}-byte limit` };
  return { ok: true, envelope, institution, source: envelope.source };
}

/** Headers as text; a repeated header is refused (which one would count?). Returns a reason on failure. */
function decodeHeaders(headers: FeedMessageView['headers']): Record<string, string> | string {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    if (Array.isArray(value)) {
      if (value.length !== 1) return `header ${name}: repeated ${value.length} times`;
      out[name] = String(value[0]);
    } else {
      out[name] = Buffer.isBuffer(value) ? value.toString('utf8') : value;
    }
  }
  return out;
}
