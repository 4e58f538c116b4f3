import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FhirResource } from '../mappers/types';
import { TributaryError } from '../platform/errors';
import { bundlesFor, publishToFhirServer } from './fhir-publish';
import { startFhirEndpoint, type FhirEndpoint } from '../tests/fhir-endpoint-support';

/** A page as the pipeline publishes it: clinical resources first, the Patients and Encounters they refer to after. */
function page(patients: number): FhirResource[] {
  const out: FhirResource[] = [];
  for (let p = 0; p < patients; p++) {
    for (let o = 0; o < 10; o++)
      out.push({
        resourceType: 'Observation',
        id: `obs-${p}-${o}`,
        subject: { reference: `Patient/pat-${p}` },
        encounter: { reference: `Encounter/enc-${p}` },
      });
    out.push({
      resourceType: 'DiagnosticReport',
      id: `dr-${p}`,
      result: [{ reference: `Observation/obs-${p}-0` }],
    });
    out.push({ resourceType: 'Encounter', id: `enc-${p}`, subject: { reference: `Patient/pat-${p}` } });
    out.push({ resourceType: 'Patient', id: `pat-${p}` });
  }
  return out;
}

let ep: FhirEndpoint;
beforeAll(async () => {
  ep = await startFhirEndpoint(500);
});
afterAll(() => ep.close());

async function refusal(p: Promise<unknown>): Promise<TributaryError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(TributaryError);
  return e as TributaryError;
}

describe('publishToFhirServer', () => {
  it('sends a page as bundles within the server limit, referenced resources first', async () => {
    const resources = page(100); // 1,300 resources
    await publishToFhirServer(ep.url, resources, { maxEntries: 500, bundleType: 'transaction' });
    expect(ep.bundles.slice(-3)).toEqual([500, 500, 300]);
    expect(ep.stored.size).toBe(1300);
    // The stand-in does check references: in the page's own order, the first bundle's Observations would have
    // named Patients sent in the last one, and an Observation of a Patient sent nowhere is refused.
    const orphan = { resourceType: 'Observation', id: 'orphan', subject: { reference: 'Patient/nowhere' } };
    const e = await refusal(
      publishToFhirServer(ep.url, [orphan], { maxEntries: 500, bundleType: 'transaction' }),
    );
    expect(e.message).toBe('FHIR server refused bundle 1 of 1: HTTP 400 (processing)');
  });

  it('puts what a resource refers to ahead of it, whatever its type', async () => {
    // An insurance page as mapped: the coverage rule (Basic) before the drug it names, which names its label.
    const resources: FhirResource[] = [
      { resourceType: 'Basic', id: 'rule-1', subject: { reference: 'MedicationKnowledge/mk-1' } },
      {
        resourceType: 'MedicationKnowledge',
        id: 'mk-1',
        monograph: [{ source: { reference: 'DocumentReference/label-1' } }],
      },
      { resourceType: 'DocumentReference', id: 'label-1' },
      // A versioned reference names the resource all the same.
      {
        resourceType: 'Observation',
        id: 'obs-1',
        derivedFrom: [{ reference: 'DocumentReference/label-1/_history/2' }],
      },
      // Two that name each other can only go in one bundle: they stay together.
      { resourceType: 'Basic', id: 'pair-a', subject: { reference: 'Basic/pair-b' } },
      { resourceType: 'Basic', id: 'pair-b', subject: { reference: 'Basic/pair-a' } },
    ];
    const sent = bundlesFor(resources, { maxEntries: 1, bundleType: 'transaction' }).map((b) => {
      const [{ resource }] = b.entry as { resource: FhirResource }[];
      return `${resource.resourceType}/${resource.id}`;
    });
    expect(sent).toEqual([
      'DocumentReference/label-1',
      'MedicationKnowledge/mk-1',
      'Basic/rule-1',
      'Observation/obs-1',
      'Basic/pair-b',
      'Basic/pair-a',
    ]);
    await publishToFhirServer(ep.url, resources.slice(0, 3), { maxEntries: 1, bundleType: 'transaction' });
    expect(ep.stored.has('Basic/rule-1')).toBe(true);
  });

  it("refuses with the server's status and issue code, never its diagnostics", async () => {
    const big = await refusal(
      publishToFhirServer(ep.url, page(50), { maxEntries: 600, bundleType: 'transaction' }),
    );
    expect(big.message).toBe('FHIR server refused bundle 1 of 2: HTTP 413 (too-costly)');
    expect(big.nonRetryable).toBe(true);
    ep.nextBundleStatus = 429;
    const busy = await refusal(
      publishToFhirServer(ep.url, page(1), { maxEntries: 500, bundleType: 'transaction' }),
    );
    expect(busy).toMatchObject({ code: 'throttled', nonRetryable: false });
    for (const e of [big, busy]) expect(e.message).not.toContain('Thornbury');
  });

  it('checks every entry of a batch: one refused entry fails the page, retryably only for server trouble', async () => {
    ep.entryStatus.set('obs-bad', '422 Unprocessable Entity');
    const resources = [...page(2), { resourceType: 'Observation', id: 'obs-bad-1' }];
    const bad = await refusal(
      publishToFhirServer(ep.url, resources, { maxEntries: 500, bundleType: 'batch' }),
    );
    // Entry 25 of the bundle as sent: 2 Patients, 2 Encounters, 21 Observations (the refused one last), 2 reports.
    expect(bad.message).toBe(
      'FHIR server refused 1 of 27 entries of bundle 1 of 1 (first: entry 25, Observation, HTTP 422)',
    );
    expect(bad.nonRetryable).toBe(true);
    ep.entryStatus.set('obs-bad', '503 Service Unavailable');
    const busy = await refusal(
      publishToFhirServer(ep.url, resources, { maxEntries: 500, bundleType: 'batch' }),
    );
    expect(busy.nonRetryable).toBe(false);
    ep.entryStatus.clear();
    await publishToFhirServer(ep.url, resources, { maxEntries: 500, bundleType: 'batch' });
    expect(ep.stored.has('Observation/obs-bad-1')).toBe(true);
  });

  it('says a server that cannot be reached is a transient failure', async () => {
    const gone = await startFhirEndpoint(500);
    await gone.close();
    const e = await refusal(
      publishToFhirServer(gone.url, page(1), { maxEntries: 500, bundleType: 'transaction' }),
    );
    expect(e.message).toMatch(/^FHIR server unreachable for bundle 1 of 1 \(\w+\)$/);
    expect(e.nonRetryable).toBe(false);
  });
});
