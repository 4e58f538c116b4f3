/**
 * Publishing to a FHIR server: resources/s into the stack's HAPI FHIR server (bundles of PUTs, references checked on
 * write), next to the same bundles sent to the tests' stand-in endpoint in the same run (our side alone: ordering,
 * HTTP, JSON, per-entry checks), so the ratio is the server's share of a `--fhir-server` run.
 *
 *   npx tributary stack up --only fhir && npx tsx bench/fhir-publish.ts [--runs 5] [--bundle 500]
 *
 * Input: the Synthea Bulk-export sample in ../shared/data, de-identified (safe-harbor) under a fresh key per run, so
 * every run writes new resources rather than unchanged versions of the last run's; the resources that refer to one
 * the sample cut off are left out.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { publishToFhirServer, referencesOf } from '../activities/fhir-publish';
import { clearDeidCaches, createDeidEngine } from '../deid/index';
import { createKeyService } from '../deid/key-service';
import type { FhirResource } from '../mappers/types';
import { loadConfig } from '../platform/config';
import { startFhirEndpoint } from '../tests/fhir-endpoint-support';
import { median } from './median';
import { SYNTHEA_BULK_DIR } from './samples';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, bundle: { type: 'string', default: '500' } },
});
const runs = Number(values.runs);
const maxEntries = Number(values.bundle);
const fhirUrl = loadConfig().fhir.url;

const raw: FhirResource[] = fs
  .readdirSync(SYNTHEA_BULK_DIR)
  .filter((f) => f.endsWith('.ndjson') && f !== 'log.ndjson')
  .sort((a, b) => (a.startsWith('Patient') ? -1 : b.startsWith('Patient') ? 1 : a.localeCompare(b)))
  .flatMap((f) => fs.readFileSync(path.join(SYNTHEA_BULK_DIR, f), 'utf8').split('\n'))
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l) as FhirResource);

function deidentified(): FhirResource[] {
  clearDeidCaches();
  const engine = createDeidEngine({
    profile: 'safe-harbor',
    keyService: createKeyService({ key: crypto.randomBytes(32), keyId: 'bench' }),
  });
  const res = engine.deidentifyResources(structuredClone(raw), { institution: 'bench' });
  return withTargets(res.outputs);
}

/**
 * The sample is the first 150 lines of some of its files: resources that refer to a resource cut off (a Condition to
 * its Encounter) are left out, as a server that checks references would refuse them.
 */
function withTargets(resources: FhirResource[]): FhirResource[] {
  let kept = resources;
  for (;;) {
    const keys = new Set(kept.map((r) => `${r.resourceType}/${r.id}`));
    // `Type/id` references only: `#contained` and `urn:uuid:` ones name no resource of the page.
    const next = kept.filter((r) =>
      referencesOf(r)
        .filter((ref) => /^[A-Z]/.test(ref))
        .every((ref) => keys.has(ref)),
    );
    if (next.length === kept.length) return kept;
    kept = next;
  }
}

async function timed(url: string, resources: FhirResource[]): Promise<number> {
  const t0 = performance.now();
  await publishToFhirServer(url, resources, { maxEntries, bundleType: 'transaction' });
  return (performance.now() - t0) / 1000;
}

const metadata = await fetch(`${fhirUrl}/metadata`).catch(() => undefined);
if (!metadata?.ok) {
  process.stderr.write(
    `no FHIR server answers at ${fhirUrl}: start it with npx tributary stack up --only fhir\n`,
  );
  process.exit(2);
}
const standIn = await startFhirEndpoint(maxEntries);
const server: number[] = [];
const ours: number[] = [];
let count = 0;
try {
  for (let r = 0; r < runs + 1; r++) {
    const resources = deidentified();
    count = resources.length;
    const s = await timed(fhirUrl, resources);
    const o = await timed(standIn.url, resources);
    standIn.stored.clear();
    if (r === 0) continue; // warm-up: the server's JIT and caches, ours
    server.push(s);
    ours.push(o);
    process.stderr.write(`run ${r}: HAPI ${s.toFixed(2)} s, stand-in ${o.toFixed(2)} s\n`);
  }
} finally {
  await standIn.close();
}
const rate = (s: number) => Math.round(count / s);
console.log(
  JSON.stringify(
    {
      resources: count,
      bundleEntries: maxEntries,
      runs,
      hapiResourcesPerSecWall: rate(median(server)),
      standInResourcesPerSecWall: rate(median(ours)),
      serverShareOfPublishTime: Number((1 - median(ours) / median(server)).toFixed(3)),
    },
    null,
    2,
  ),
);
