import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pseudonymOf } from '../../deid/key-service';
import type { FhirResource } from '../../mappers/types';
import type { IngestRunProgress } from '../../schemas/ingest';
import { startFhirEndpoint, type FhirEndpoint } from '../fhir-endpoint-support';
import { createIngestWorld, runOnWorld, type IngestWorld, type WorldRun } from './ingest-support';

/**
 * Publishing to a FHIR server (`--fhir-server`) through a real run: every resource the run publishes reaches the
 * server, in bundles no larger than TRIBUTARY_FHIR_BUNDLE_MAX, each reference resolvable when its bundle arrives.
 * No FHIR server runs in the local stack: tests/fhir-endpoint-support.ts stands in for one (entry limit, references
 * checked on write, a status per entry). The run is two institutions that share a person (linked by national ID):
 * each publishes a Patient for them, and the server must end up holding both.
 */
const BUNDLE_MAX = 5;
let institutions: string[];
let world: IngestWorld;
let run: WorldRun | undefined;
let endpoint: FhirEndpoint;
let progress: IngestRunProgress;
let state: string;

beforeAll(async () => {
  world = await createIngestWorld('fhirsrv', { patients: 3 });
  const shared = world.truth.persons.find((p) => p.nationalId && p.attends.length > 1);
  if (!shared) throw new Error('the test world has no person at two institutions: change its seed');
  institutions = shared.attends.slice(0, 2).map((a) => a.institution);
  endpoint = await startFhirEndpoint(BUNDLE_MAX);
  run = await runOnWorld(
    world,
    {
      runId: `it-fhir-server-${process.pid}`,
      institutions,
      // Wearable Observations refer to the EHR's Patients: the run publishes an institution's EHR source first.
      sources: ['ehr', 'wearable'],
      route: false,
      fhirServerUrl: endpoint.url,
    },
    { env: { TRIBUTARY_FHIR_BUNDLE_MAX: String(BUNDLE_MAX) } },
  );
  ({ state, progress } = run);
}, 600_000);

afterAll(async () => {
  await run?.stop();
  await endpoint?.close();
  await world?.cleanup();
});

describe('publish to a FHIR server', () => {
  it('sends every published resource, as published, in bundles within the limit', () => {
    expect(progress.sources.filter((s) => s.counts && s.counts.in > 0).length).toBeGreaterThan(1);
    expect(state).toBe('completed');
    const fhirDir = path.join(progress.outputDir!, 'fhir');
    const published = new Map<string, unknown>();
    for (const f of fs.readdirSync(fhirDir))
      for (const line of fs.readFileSync(path.join(fhirDir, f), 'utf8').split('\n').filter(Boolean)) {
        const r = JSON.parse(line) as { resourceType: string; id: string };
        published.set(`${r.resourceType}/${r.id}`, r);
      }
    expect(published.size).toBe(progress.totals.resourcesPublished);
    expect(published.size).toBeGreaterThan(BUNDLE_MAX);
    expect([...endpoint.stored.keys()].sort()).toEqual([...published.keys()].sort());
    for (const [key, r] of published) expect(endpoint.stored.get(key), key).toEqual(r);
    expect(Math.max(...endpoint.bundles)).toBeLessThanOrEqual(BUNDLE_MAX);
    expect(endpoint.bundles.length).toBeGreaterThan(1);
  });

  it("keeps both institutions' Patient of a person they share: one id each, linked by the pseudonym", () => {
    const fhirDir = path.join(progress.outputDir!, 'fhir');
    // institution -> persons it published (one Patient each, however many sources carried it)
    const personsAt = new Map<string, Set<string>>();
    for (const f of fs.readdirSync(fhirDir).filter((n) => n.startsWith('Patient.'))) {
      const institution = institutions.find((i) => f.startsWith(`Patient.${i}.`))!;
      for (const line of fs.readFileSync(path.join(fhirDir, f), 'utf8').split('\n').filter(Boolean)) {
        const person = pseudonymOf(JSON.parse(line) as FhirResource);
        expect(person).toBeDefined();
        personsAt.set(institution, (personsAt.get(institution) ?? new Set()).add(person!));
      }
    }
    const [a, b] = institutions.map((i) => personsAt.get(i) ?? new Set<string>());
    const both = [...a].filter((p) => b.has(p));
    expect(both.length).toBeGreaterThan(0);
    const stored = [...endpoint.stored.values()].filter((r) => r.resourceType === 'Patient');
    expect(stored).toHaveLength(a.size + b.size);
    for (const person of both) expect(stored.filter((r) => pseudonymOf(r) === person)).toHaveLength(2);
  });
});
