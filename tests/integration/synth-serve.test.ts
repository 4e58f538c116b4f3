import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'fhir-kit-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSynth } from '../../synth/generate';
import { startSynthServer, type SynthServer } from '../../synth/serve';
import { readGroundTruth } from '../../synth/verify';
import type { GroundTruth } from '../../schemas/ground-truth';

// The synthetic hospitals' FHIR endpoints, exercised with an independent FHIR client (fhir-kit-client).
const FHIR_INST = 'riverside-general';
let root: string;
let server: SynthServer;
let gt: GroundTruth;

function ndjsonLines(type: string): Record<string, unknown>[] {
  return fs
    .readFileSync(path.join(root, FHIR_INST, 'ehr', 'fhir', `${type}.ndjson`), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'synth-serve-'));
  generateSynth({ out: root, seed: 'serve-seed', patients: 12, institutions: 12, force: true });
  gt = readGroundTruth(root);
  server = await startSynthServer({ dir: root, host: '127.0.0.1', rateLimit: false });
});

afterAll(async () => {
  await server?.close();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('synth serve: FHIR search', () => {
  it('pages through every Observation with next links', async () => {
    const client = new Client({ baseUrl: server.baseUrlFor(FHIR_INST) });
    let bundle = (await client.search({
      resourceType: 'Observation',
      searchParams: { _count: 7 },
    })) as unknown as {
      entry?: { resource: { id: string } }[];
      link: { relation: string; url: string }[];
      total: number;
    };
    const ids: string[] = [];
    let pages = 0;
    for (;;) {
      pages++;
      ids.push(...(bundle.entry ?? []).map((e) => e.resource.id));
      if (!bundle.link.some((l) => l.relation === 'next')) break;
      bundle = (await client.nextPage({ bundle } as never)) as unknown as typeof bundle;
    }
    const expected = ndjsonLines('Observation').map((r) => r.id);
    expect(pages).toBeGreaterThan(2);
    expect(ids).toEqual(expected);
    const e = gt.expected.find((x) => x.institution === FHIR_INST && x.source === 'ehr');
    expect(e?.breakdown?.Observation).toBe(expected.length);
  });

  it('filters by _lastUpdated and by patient', async () => {
    const client = new Client({ baseUrl: server.baseUrlFor(FHIR_INST) });
    const all = ndjsonLines('Encounter') as {
      id: string;
      meta: { lastUpdated: string };
      subject: { reference: string };
    }[];
    const cut = all.map((r) => r.meta.lastUpdated).sort()[Math.floor(all.length / 2)];
    const bundle = (await client.search({
      resourceType: 'Encounter',
      searchParams: { _lastUpdated: `ge${cut}`, _count: 500 },
    })) as unknown as { total: number; entry: { resource: { id: string } }[] };
    const want = all.filter((r) => Date.parse(r.meta.lastUpdated) >= Date.parse(cut)).map((r) => r.id);
    expect(bundle.total).toBe(want.length);
    expect(bundle.entry.map((x) => x.resource.id).sort()).toEqual(want.sort());
    expect(want.length).toBeLessThan(all.length);
    const patient = all[0].subject.reference;
    const forPatient = (await client.search({
      resourceType: 'Encounter',
      searchParams: { patient },
    })) as unknown as { entry: { resource: { subject: { reference: string } } }[] };
    expect(forPatient.entry.length).toBe(all.filter((r) => r.subject.reference === patient).length);
  });

  it('reads one resource and answers unknown ones with an OperationOutcome', async () => {
    const client = new Client({ baseUrl: server.baseUrlFor(FHIR_INST) });
    const p = (await client.read({ resourceType: 'Patient', id: 'pt-0001' })) as unknown as { id: string };
    expect(p.id).toBe('pt-0001');
    await expect(client.read({ resourceType: 'Patient', id: 'nope' })).rejects.toMatchObject({
      response: { status: 404, data: { resourceType: 'OperationOutcome' } },
    });
  });
});

describe('synth serve: Bulk Data $export', () => {
  it('kicks off, polls (202 then 200) and serves NDJSON matching the store, through fhir-kit-client', async () => {
    const base = server.baseUrlFor(FHIR_INST);
    const refused = await fetch(`${base}/$export`);
    expect(refused.status).toBe(400);
    const client = new Client({ baseUrl: base });
    const kick = await client.operation({
      name: '$export',
      method: 'get',
      input: { _type: 'Patient,Observation' },
      options: { headers: { prefer: 'respond-async', accept: 'application/fhir+json' } },
    } as never);
    const kickResponse = Client.httpFor(kick).response!;
    expect(kickResponse.status).toBe(202);
    const status = kickResponse.headers.get('content-location')!;
    const first = Client.httpFor(await client.request(status)).response!;
    expect(first.status).toBe(202);
    expect(first.headers.get('x-progress')).toBeTruthy();
    const doneBody = await client.request(status);
    expect(Client.httpFor(doneBody).response!.status).toBe(200);
    const manifest = doneBody as unknown as { output: { type: string; url: string; count: number }[] };
    expect(manifest.output.map((o) => o.type).sort()).toEqual(['Observation', 'Patient']);
    for (const o of manifest.output) {
      const body = await (await fetch(o.url)).text();
      const lines = body.split('\n').filter(Boolean);
      expect(lines.length).toBe(o.count);
      expect(lines).toEqual(ndjsonLines(o.type).map((r) => JSON.stringify(r)));
    }
  });
});

describe('synth serve: throttling and files', () => {
  it('answers 429 with Retry-After when pushed too hard', async () => {
    const limited = await startSynthServer({
      dir: root,
      host: '127.0.0.1',
      rateLimit: { requestsPerSecond: 0.1, burst: 3 },
    }); // one token per 10 s: slow machines cannot refill the bucket mid-test
    try {
      const statuses: number[] = [];
      let retryAfter: string | null = null;
      for (let i = 0; i < 6; i++) {
        const r = await fetch(`${limited.baseUrlFor(FHIR_INST)}/Patient?_count=1`);
        statuses.push(r.status);
        if (r.status === 429) retryAfter = r.headers.get('retry-after');
        await r.arrayBuffer();
      }
      expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
      expect(statuses).toContain(429);
      expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    } finally {
      await limited.close();
    }
  });

  it('lists and serves an HL7 institution’s files, and refuses paths outside it', async () => {
    const inst = 'sh-ruijin-north';
    const index = (await (await fetch(server.filesUrlFor(inst))).json()) as {
      files: { path: string; url: string; size: number }[];
    };
    const feed = index.files.find((f) => f.path.endsWith('.hl7'))!;
    const body = Buffer.from(await (await fetch(feed.url)).arrayBuffer());
    expect(body.equals(fs.readFileSync(path.join(root, inst, feed.path)))).toBe(true);
    expect((await fetch(`${server.filesUrlFor(inst)}..%2F..%2Fground-truth.json`)).status).toBe(404);
    expect((await fetch(`${server.baseUrlFor(inst)}/Patient`)).status).toBe(404);
  });
});
