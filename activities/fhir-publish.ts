import { Client as FhirClient } from 'fhir-kit-client';
import type { FhirResource } from '../mappers/types';
import { TributaryError, toError } from '../platform/errors';

/**
 * De-identified resources to a FHIR server, as bundles of PUTs (ids are stable pseudonyms, so a retry rewrites the
 * same resources). Servers cap a bundle's entries (Azure Health Data Services: 500; FHIR Works on AWS: 100) and some
 * take no transactions at all (Azure API for FHIR: batch only), so a page goes as several bundles of at most
 * `maxEntries`, of the type the server takes. Every entry must succeed: a batch answers 200 with a status per entry,
 * and an entry refused there would otherwise be a record lost without a word.
 */
export interface FhirPublishOptions {
  maxEntries: number;
  bundleType: 'transaction' | 'batch';
}

/**
 * Types other resources refer to, first (a server that checks references on write must find the target in an
 * earlier bundle, or the same one); types that refer to many others (a report to its results), last.
 */
const FIRST = [
  'Organization',
  'Location',
  'Practitioner',
  'Patient',
  'PractitionerRole',
  'RelatedPerson',
  'Device',
  'Medication',
  'Encounter',
];
const LAST = ['DiagnosticReport', 'DocumentReference', 'Provenance'];

function rankOf(type: string): number {
  const first = FIRST.indexOf(type);
  if (first >= 0) return first;
  const last = LAST.indexOf(type);
  return last >= 0 ? FIRST.length + 1 + last : FIRST.length;
}

/** The references of a resource, literal ones as `Type/id` (without a version), in document order. */
export function referencesOf(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) referencesOf(v, out);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string') out.push(v.replace(/\/_history\/.*$/, ''));
      else referencesOf(v, out);
    }
  }
  return out;
}

/**
 * The resources with everything each refers to (in the page) before it: a server that checks references on write
 * must find the target in an earlier bundle or the same one. Types in FIRST/LAST order to start with, stable within a
 * type; then a depth-first walk puts a resource's targets ahead of it, whatever their types (an insurance Basic names
 * a MedicationKnowledge, which no fixed type order knows). Resources that refer to each other stay where the walk
 * meets them: in one bundle a server resolves them together.
 */
function inReferenceOrder(resources: readonly FhirResource[]): FhirResource[] {
  const ranked = resources
    .map((r, i) => ({ r, i, rank: rankOf(r.resourceType) }))
    .sort((a, b) => a.rank - b.rank || a.i - b.i)
    .map((x) => x.r);
  const byKey = new Map(ranked.map((r) => [`${r.resourceType}/${r.id}`, r]));
  const placed = new Set<FhirResource>();
  const out: FhirResource[] = [];
  for (const root of ranked) {
    if (placed.has(root)) continue;
    // An explicit stack: a chain of references as long as the page cannot overflow the call stack.
    placed.add(root);
    const stack: { r: FhirResource; targets: string[]; next: number }[] = [
      { r: root, targets: referencesOf(root), next: 0 },
    ];
    while (stack.length) {
      const top = stack[stack.length - 1];
      if (top.next < top.targets.length) {
        const target = byKey.get(top.targets[top.next++]);
        if (target && !placed.has(target)) {
          placed.add(target);
          stack.push({ r: target, targets: referencesOf(target), next: 0 });
        }
        continue;
      }
      out.push(top.r);
      stack.pop();
    }
  }
  return out;
}

/** The resources in reference order (see inReferenceOrder), cut into bundles of at most `maxEntries`. */
export function bundlesFor(resources: readonly FhirResource[], options: FhirPublishOptions): FhirResource[] {
  const ordered = inReferenceOrder(resources);
  const bundles: FhirResource[] = [];
  for (let i = 0; i < ordered.length; i += options.maxEntries) {
    bundles.push({
      resourceType: 'Bundle',
      type: options.bundleType,
      entry: ordered.slice(i, i + options.maxEntries).map((resource) => ({
        resource,
        request: { method: 'PUT', url: `${resource.resourceType}/${resource.id}` },
      })),
    });
  }
  return bundles;
}

/** HTTP status of a bundle entry's response ("201 Created" → 201); undefined when the server gave none. */
function entryStatus(entry: unknown): number | undefined {
  const status = (entry as { response?: { status?: unknown } } | null)?.response?.status;
  const code = typeof status === 'string' ? Number.parseInt(status, 10) : NaN;
  return Number.isFinite(code) ? code : undefined;
}

export async function publishToFhirServer(
  baseUrl: string,
  resources: readonly FhirResource[],
  options: FhirPublishOptions,
): Promise<void> {
  const client = new FhirClient({ baseUrl });
  const bundles = bundlesFor(resources, options);
  for (const [b, bundle] of bundles.entries()) {
    const where = `bundle ${b + 1} of ${bundles.length}`;
    let response: unknown;
    try {
      response =
        options.bundleType === 'batch'
          ? await client.batch({ body: bundle })
          : await client.transaction({ body: bundle });
    } catch (e) {
      // toError reads fhir-kit-client's thrown response: its status and the OperationOutcome's issue code, never the
      // diagnostics (a server may quote a value back). Anything else (the network) is named by its type.
      const err = toError(e);
      throw err instanceof TributaryError
        ? new TributaryError(`FHIR server refused ${where}: ${err.message}`, {
            code: err.code,
            nonRetryable: err.nonRetryable,
          })
        : new TributaryError(`FHIR server unreachable for ${where} (${err.name})`, { code: 'transient' });
    }
    const sent = (bundle.entry as unknown[]).length;
    const entries = (response as { entry?: unknown[] } | null)?.entry;
    if (!Array.isArray(entries) || entries.length !== sent)
      throw new TributaryError(
        `FHIR server answered ${where} with ${Array.isArray(entries) ? entries.length : 'no'} entries for ${sent}`,
        { code: 'processing' },
      );
    const statuses = entries.map(entryStatus);
    const failed = statuses.flatMap((s, i) => (s !== undefined && s >= 200 && s < 300 ? [] : [i]));
    if (failed.length) {
      const first = failed[0];
      const type = ((bundle.entry as { resource: FhirResource }[])[first].resource as FhirResource)
        .resourceType;
      const codes = failed.map((i) => statuses[i]);
      // Retry when every refusal is the server's own trouble; an entry it refuses on its content will not pass later.
      const retryable = codes.every((c) => c === undefined || c === 429 || c >= 500);
      throw new TributaryError(
        `FHIR server refused ${failed.length} of ${sent} entries of ${where} (first: entry ${first + 1}, ${type}, ` +
          `${codes[0] === undefined ? 'no status' : `HTTP ${codes[0]}`})`,
        { code: retryable ? 'transient' : 'processing', nonRetryable: !retryable },
      );
    }
  }
}
