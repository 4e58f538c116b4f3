import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishToFhirServer } from '../../activities/fhir-publish';
import { PSEUDONYM_SYSTEM, pseudonymOf } from '../../deid/key-service';
import type { FhirResource } from '../../mappers/types';
import { TributaryError } from '../../platform/errors';
import type { IngestRunProgress } from '../../schemas/ingest';
import {
  createIngestWorld,
  expectStoredAsPublished,
  publishedResources,
  runOnWorld,
  type IngestWorld,
  type WorldRun,
} from './ingest-support';

/**
 * Publishing to a FHIR server (`--fhir-server`) through a real run, against the stack's HAPI FHIR JPA server: every
 * resource the run publishes is stored as published, in bundles of TRIBUTARY_FHIR_BUNDLE_MAX entries (HAPI checks
 * each reference on write, so a resource sent before what it refers to would be refused). The run is two
 * institutions that share a person (linked by national ID): each publishes a Patient for them, and the server must
 * hold both, found together by the person's pseudonym. Failure modes a real server cannot be made to produce on
 * demand (an entry limit, a 429, one refused entry of a batch) are tested in activities/fhir-publish.test.ts.
 */
const BUNDLE_MAX = 5;
const fhirUrl = process.env.FHIR_SERVER_URL!;
let institutions: string[];
let world: IngestWorld;
let run: WorldRun | undefined;
let progress: IngestRunProgress;
let state: string;

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { headers: { accept: 'application/fhir+json' } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  world = await createIngestWorld('fhirsrv', { patients: 3 });
  const shared = world.truth.persons.find((p) => p.nationalId && p.attends.length > 1);
  if (!shared) throw new Error('the test world has no person at two institutions: change its seed');
  institutions = shared.attends.slice(0, 2).map((a) => a.institution);
  run = await runOnWorld(
    world,
    {
      runId: `it-fhir-server-${process.pid}`,
      institutions,
      // Wearable Observations refer to the EHR's Patients: the run publishes an institution's EHR source first.
      sources: ['ehr', 'wearable'],
      route: false,
      fhirServerUrl: fhirUrl,
    },
    { env: { TRIBUTARY_FHIR_BUNDLE_MAX: String(BUNDLE_MAX) } },
  );
  ({ state, progress } = run);
}, 600_000);

afterAll(async () => {
  await run?.stop();
  await world?.cleanup();
});

describe('publish to a FHIR server (HAPI FHIR)', () => {
  it('stores every published resource as published', async () => {
    expect(state).toBe('completed');
    expect(progress.sources.filter((s) => s.counts && s.counts.in > 0).length).toBeGreaterThan(1);
    const published = publishedResources(progress.outputDir!);
    expect(published.size).toBe(progress.totals.resourcesPublished);
    expect(published.size).toBeGreaterThan(BUNDLE_MAX * 10);
    await expectStoredAsPublished(fhirUrl, published);
  });

  it("keeps both institutions' Patient of a person they share, found by the pseudonym", async () => {
    const patients = [...publishedResources(progress.outputDir!).values()].filter(
      (r) => r.resourceType === 'Patient',
    );
    const institutionsOf = new Map<string, Set<string>>();
    const fhirDir = path.join(progress.outputDir!, 'fhir');
    for (const f of fs.readdirSync(fhirDir).filter((n) => n.startsWith('Patient.'))) {
      const institution = institutions.find((i) => f.startsWith(`Patient.${i}.`))!;
      for (const line of fs.readFileSync(path.join(fhirDir, f), 'utf8').split('\n').filter(Boolean)) {
        const person = pseudonymOf(JSON.parse(line) as FhirResource);
        expect(person).toBeDefined();
        institutionsOf.set(person!, (institutionsOf.get(person!) ?? new Set()).add(institution));
      }
    }
    const both = [...institutionsOf].filter(([, s]) => s.size === 2).map(([p]) => p);
    expect(both.length).toBeGreaterThan(0);
    for (const person of both) {
      const { status, body } = await getJson(
        `${fhirUrl}/Patient?identifier=${encodeURIComponent(`${PSEUDONYM_SYSTEM}|${person}`)}`,
      );
      expect(status).toBe(200);
      const found = ((body.entry ?? []) as { resource: FhirResource }[]).map((e) => e.resource.id).sort();
      const expected = patients
        .filter((p) => pseudonymOf(p) === person)
        .map((p) => p.id)
        .sort();
      expect(expected).toHaveLength(2);
      expect(found).toEqual(expected);
    }
  });

  it("names a refused bundle by status and issue code, never by the server's diagnostics", async () => {
    const orphan: FhirResource = {
      resourceType: 'Observation',
      id: `orphan-${process.pid}`,
      status: 'final',
      code: { text: 'heart rate' },
      subject: { reference: `Patient/Thornbury-${process.pid}` },
    };
    const e = await publishToFhirServer(fhirUrl, [orphan], { maxEntries: 5, bundleType: 'transaction' }).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(TributaryError);
    // HAPI's diagnostics quote the reference ("HAPI-1094: Resource Patient/Thornbury-... not found").
    expect((e as TributaryError).message).toBe('FHIR server refused bundle 1 of 1: HTTP 400 (processing)');
    expect((await getJson(`${fhirUrl}/Observation/${orphan.id}`)).status).toBe(404);
  });
});
