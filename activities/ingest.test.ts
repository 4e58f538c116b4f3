import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FhirResource } from '../mappers/types';
import { NotSupportedError, TributaryError } from '../platform/errors';
import { loadInstitutionRegistry } from '../platform/institutions';
import type { SourceCounts } from '../schemas/ingest';
import { addCounts, emptyCounts } from '../workflows/counts';
import { createConnectors } from './connectors';
import { createIngestActivities, type IngestDeps } from './ingest';
import { createFileBlobStore } from './staging';
import { startFileDrop } from './test-support/file-drop';
import type { StepLibrary } from './steps';
import { createRiskTally } from '../deid/risk';

/**
 * The activities over a real encrypted store, a real HTTP file index and test-double libraries (the real ones are
 * exercised by the integration tests): counts, idempotent outputs, quarantine and the failure boundary.
 */
const registry = loadInstitutionRegistry();
const inst = registry.institutions.find((i) => i.druglabel?.format === 'spl')!;

function fakeSteps(overrides: Partial<StepLibrary> = {}): StepLibrary {
  return {
    async mapPart(_format, bytes, ctx) {
      const text = bytes.toString('utf8');
      if (text.startsWith('CORRUPT'))
        throw new TributaryError(`${ctx.sourceFile}: not a document`, {
          code: 'structure',
          location: ctx.sourceFile,
          nonRetryable: true,
        });
      const lines = text.split('\n').filter(Boolean);
      const good = lines.filter((l) => l !== 'bad');
      return {
        resources: good.flatMap((l, i) => [
          {
            resourceType: 'MedicationKnowledge',
            id: `${ctx.sourceFile}-${i}`,
            meta: { source: `${ctx.sourceFile}#${i}` },
            code: { text: l },
          },
          {
            resourceType: 'Basic',
            id: `${ctx.sourceFile}-${i}-b`,
            meta: { source: `${ctx.sourceFile}#${i}` },
          },
        ]),
        issues: lines
          .filter((l) => l === 'bad')
          .map(() => ({ severity: 'error' as const, code: 'invalid' as const, diagnostics: 'bad record' })),
        recordsIn: lines.length,
        recordsMapped: good.length,
        recordsRejected: lines.length - good.length,
      };
    },
    riskTally: () => createRiskTally({ k: 5, quasiIdentifiers: ['age-band', 'sex', 'region'] }),
    linkPatient(patient) {
      return { linkage: `link-${patient.id}`, mrn: `mrn-${patient.id}` };
    },
    async deidentifyResources(resources) {
      const quarantined = resources
        .filter((r) => JSON.stringify(r).includes('LEAK'))
        .map((r) => ({
          resourceType: r.resourceType,
          id: r.id,
          rule: 'residual-phi',
          path: 'code.text',
          reason: 'identifier',
        }));
      const ids = new Set(quarantined.map((q) => q.id));
      return {
        outputs: resources.filter((r) => !ids.has(r.id)).map((r) => ({ ...r, deidentified: true })),
        quarantined,
      };
    },
    async validateResources(resources: FhirResource[]) {
      return resources.map((r) =>
        JSON.stringify(r).includes('INVALID')
          ? [{ severity: 'error' as const, code: 'structure' as const, diagnostics: 'bad' }]
          : [],
      );
    },
    async deidentifyDicom() {
      throw new NotSupportedError('dicom');
    },
    async denoiseDicom() {
      throw new NotSupportedError('denoise');
    },
    mapImagingStudies() {
      throw new NotSupportedError('imaging studies');
    },
    ...overrides,
  };
}

describe('ingest activities', () => {
  let root: string;
  let drop: Awaited<ReturnType<typeof startFileDrop>>;
  let endpoint: string;
  const files: Record<string, string> = {
    'druglabel/spl/label-001.xml': 'a\nb\nbad\n',
    'druglabel/spl/label-002.xml': 'c\nLEAK\nINVALID\nd\n',
    'druglabel/spl/label-003.xml': 'CORRUPT',
  };
  let throttleNext = 0;
  let failNext = 0;

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'ingest-act-'));
    drop = await startFileDrop(inst.id, files, (res) => {
      if (throttleNext > 0) {
        throttleNext--;
        res.writeHead(429, { 'retry-after': '3' });
        res.end();
        return true;
      }
      if (failNext > 0) {
        failNext--;
        res.writeHead(500);
        res.end();
        return true;
      }
      return false;
    });
    endpoint = drop.endpoint;
  });
  afterAll(() => {
    drop.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  function deps(steps: StepLibrary, filesPerPage?: number): IngestDeps {
    return {
      store: createFileBlobStore({ root: path.join(root, 'staging'), key: { key: crypto.randomBytes(32) } }),
      outputRoot: path.join(root, 'out'),
      registry,
      connectors: createConnectors({ ratePerSecond: 1000, filesPerPage }),
      steps,
    };
  }

  async function runSource(acts: ReturnType<typeof createIngestActivities>, runId: string, pages?: string[]) {
    const ctx = { runId, institution: inst.id, source: 'druglabel' as const };
    let totals = emptyCounts();
    const add = (c: Partial<SourceCounts>) => {
      totals = addCounts(totals, c);
    };
    let cursor: string | undefined;
    do {
      const page = await acts.fetchPage({ ...ctx, endpoint, cursor, pageSize: 100 });
      add(page.counts);
      if (page.rawKey) pages?.push(page.rawKey);
      if (page.rawKey) {
        const std = await acts.standardizeBatch({ ...ctx, rawKey: page.rawKey });
        add(std.counts);
        if (std.batchKey) {
          const deid = await acts.deidentifyBatch({ ...ctx, batchKey: std.batchKey });
          add(deid.counts);
          const ver = await acts.verifyBatch({ ...ctx, batchKey: deid.batchKey! });
          add(ver.counts);
          add((await acts.publishBatch({ ...ctx, batchKey: ver.batchKey })).counts);
        }
      }
      cursor = page.nextCursor;
    } while (cursor);
    await acts.writeRunManifest({ runId });
    return totals;
  }

  it('prunes the preview versions no stored item refers to, and nothing without a preview root or queue store', async () => {
    const previewRoot = path.join(root, 'previews');
    const write = (folder: string, hoursAgo: number) => {
      fs.mkdirSync(path.join(previewRoot, folder), { recursive: true });
      fs.writeFileSync(path.join(previewRoot, folder, '0.png'), Buffer.alloc(10));
      const t = new Date(Date.now() - hoursAgo * 3_600_000);
      fs.utimesSync(path.join(previewRoot, folder, '0.png'), t, t);
      fs.utimesSync(path.join(previewRoot, folder), t, t);
    };
    const item = `inst/${'c'.repeat(24)}`;
    write(`${item}/${'1'.repeat(16)}`, 3); // the stored version
    write(`${item}/${'2'.repeat(16)}`, 3); // an old version: removed
    write(`${item}/${'3'.repeat(16)}`, 0); // written just now, its item maybe not stored yet: left
    const refs = new Set([`${item}/${'1'.repeat(16)}/0.png`]);
    expect(await createIngestActivities(deps(fakeSteps())).prunePreviewVersions({ graceMinutes: 60 })).toBe(
      undefined,
    );
    const acts = createIngestActivities({ ...deps(fakeSteps()), previewRoot, previewRefs: async () => refs });
    expect(await acts.prunePreviewVersions({ graceMinutes: 60 })).toEqual({
      kept: 1,
      removed: 1,
      recent: 1,
      bytesRemoved: 10,
    });
    expect(fs.readdirSync(path.join(previewRoot, item)).sort()).toEqual(['1'.repeat(16), '3'.repeat(16)]);
  });

  it('runs the chain with record-level reconciliation and quarantines a corrupt file', async () => {
    const acts = createIngestActivities(deps(fakeSteps()));
    const totals = await runSource(acts, 'run-a');
    // label-001: 3 records, 1 rejected; label-002: 4 records, LEAK and INVALID records quarantined whole.
    expect(totals).toMatchObject({ in: 7, rejected: 1, quarantined: 2, published: 4, pagesQuarantined: 1 });
    expect(totals.in).toBe(totals.published + totals.quarantined + totals.rejected);
    expect(totals.resourcesPublished).toBe(8);
    const manifest = JSON.parse(fs.readFileSync(path.join(root, 'out/run-a/manifest.json'), 'utf8'));
    const count = (type: string) =>
      manifest.output
        .filter((o: { type: string }) => o.type === type)
        .reduce((n: number, o: { count: number }) => n + o.count, 0);
    expect(count('MedicationKnowledge')).toBe(4);
    expect(count('Basic')).toBe(4);
    const published = fs
      .readdirSync(path.join(root, 'out/run-a/fhir'))
      .map((f) => fs.readFileSync(path.join(root, 'out/run-a/fhir', f), 'utf8'))
      .join('');
    expect(published).not.toContain('LEAK');
    expect(published).not.toContain('INVALID');
  });

  it('counts a file whose own trailer miscounts what arrived as a source gap, apart from the records', async () => {
    const base = fakeSteps();
    const acts = createIngestActivities(
      deps(
        fakeSteps({
          async mapPart(format, bytes, ctx) {
            const r = await base.mapPart(format, bytes, ctx);
            if (ctx.sourceFile.endsWith('label-001.xml'))
              r.issues.push({
                severity: 'error',
                code: 'incomplete',
                diagnostics: 'batch trailer BTS-1 counts 4 message(s); the batch holds 3',
                location: [`${ctx.sourceFile}:line 4`],
              });
            return r;
          },
        }),
      ),
    );
    const totals = await runSource(acts, 'run-gap');
    expect(totals).toMatchObject({ in: 7, rejected: 1, quarantined: 2, published: 4, sourceGaps: 1 });
  });

  it('gives the same counts and outputs with one file per page as with several files per page', async () => {
    const onePages: string[] = [];
    const one = await runSource(createIngestActivities(deps(fakeSteps(), 1)), 'run-f1', onePages);
    const twoPages: string[] = [];
    const two = await runSource(createIngestActivities(deps(fakeSteps(), 2)), 'run-f2', twoPages);
    expect(onePages).toHaveLength(3);
    expect(twoPages).toHaveLength(2);
    // (The first test has all three files, the corrupt one included, on one page at the default size.)
    // The pages pulled differ by construction; every other count must not.
    expect([one.pages, two.pages]).toEqual([3, 2]);
    expect({ ...two, pages: 0 }).toEqual({ ...one, pages: 0 });
    expect(one).toMatchObject({ in: 7, rejected: 1, quarantined: 2, published: 4, pagesQuarantined: 1 });
    const manifestOf = (run: string) =>
      (
        JSON.parse(fs.readFileSync(path.join(root, `out/${run}/manifest.json`), 'utf8')).output as {
          type: string;
          count: number;
        }[]
      ).reduce((m, o) => m.set(o.type, (m.get(o.type) ?? 0) + o.count), new Map<string, number>());
    expect(manifestOf('run-f2')).toEqual(manifestOf('run-f1'));
  });

  it('processBatch runs the page steps one after the other: the same counts, in order, and the same outputs', async () => {
    const stepByStep = await runSource(createIngestActivities(deps(fakeSteps())), 'run-s1');
    const acts = createIngestActivities(deps(fakeSteps()));
    const ctx = { runId: 'run-s2', institution: inst.id, source: 'druglabel' as const };
    const page = await acts.fetchPage({ ...ctx, endpoint, pageSize: 100 });
    const { steps } = await acts.processBatch({ ...ctx, rawKey: page.rawKey!, route: false });
    // standardize, de-identify, verify, publish (routing off).
    expect(steps).toHaveLength(4);
    expect(steps.reduce(addCounts, addCounts(emptyCounts(), page.counts))).toEqual(stepByStep);
    const outputs = (run: string) =>
      fs
        .readdirSync(path.join(root, `out/${run}/fhir`))
        .map((f) => fs.readFileSync(path.join(root, `out/${run}/fhir`, f), 'utf8'))
        .sort();
    expect(outputs('run-s2')).toEqual(outputs('run-s1'));
    // The steps hand their batches over in memory: nothing between the raw page and the outputs is staged.
    const staged = (kind: string, run: string) => fs.existsSync(path.join(root, 'staging', kind, run));
    for (const kind of ['std', 'deid', 'verified']) {
      expect(staged(kind, 'run-s1'), kind).toBe(true);
      expect(staged(kind, 'run-s2'), kind).toBe(false);
    }
    expect(staged('raw', 'run-s2')).toBe(true);
    // A step's failure still names that step.
    const failing = createIngestActivities(
      deps(fakeSteps({ validateResources: async () => Promise.reject(new RangeError('x')) })),
    );
    const again = await failing.fetchPage({ ...ctx, endpoint, pageSize: 100 });
    await expect(failing.processBatch({ ...ctx, rawKey: again.rawKey!, route: false })).rejects.toMatchObject(
      { message: 'verifyBatch: unexpected RangeError' },
    );
  });

  it('routes a page with the time it was received: the same on a retry, later on the next pull, through the staged steps too', async () => {
    const routed: { receivedAt?: string; ids: string[] }[] = [];
    const acts = createIngestActivities({
      ...deps(fakeSteps()),
      async route(items, ctx) {
        routed.push({ receivedAt: ctx.receivedAt, ids: items.map((i) => i.id) });
        return { routed: items.length, updated: 1, conflicts: 0 };
      },
    });
    const ctx = { runId: 'run-received', institution: inst.id, source: 'druglabel' as const };
    const before = new Date().toISOString();
    const page = await acts.fetchPage({ ...ctx, endpoint, pageSize: 100 });
    const after = new Date().toISOString();
    const { steps } = await acts.processBatch({ ...ctx, rawKey: page.rawKey!, route: true });
    expect(steps.at(-1)).toEqual({ workItems: routed[0].ids.length, itemsUpdated: 1 });
    await acts.processBatch({ ...ctx, rawKey: page.rawKey!, route: true }); // a retried attempt
    const std = await acts.standardizeBatch({ ...ctx, rawKey: page.rawKey! });
    const deid = await acts.deidentifyBatch({ ...ctx, batchKey: std.batchKey! });
    const ver = await acts.verifyBatch({ ...ctx, batchKey: deid.batchKey! });
    await acts.routeBatch({ ...ctx, batchKey: ver.batchKey });
    await new Promise((r) => setTimeout(r, 5));
    const next = await acts.fetchPage({ ...ctx, runId: 'run-received-2', endpoint, pageSize: 100 });
    await acts.processBatch({ ...ctx, runId: 'run-received-2', rawKey: next.rawKey!, route: true });

    const [first, retry, staged, later] = routed.map((r) => r.receivedAt!);
    expect(first >= before && first <= after).toBe(true);
    expect([retry, staged]).toEqual([first, first]);
    expect(later > first).toBe(true);
    expect(new Set(routed.map((r) => r.ids.join()))).toHaveProperty('size', 1);
  });

  it('matches a quarantined resource by its position, also when its type cannot be named in the log', async () => {
    // The engine logs a resourceType that is not a FHIR name as "(unknown)"; only the position finds the resource.
    const steps = fakeSteps({
      async deidentifyResources(resources) {
        const quarantined = [
          {
            index: 0,
            resourceType: '(unknown)',
            rule: 'input.shape',
            path: 'resourceType',
            reason: 'missing or not a FHIR resource type',
          },
        ];
        return { outputs: resources.slice(1), quarantined };
      },
      validateResources: async (resources) => resources.map(() => []),
    });
    const acts = createIngestActivities(deps(steps));
    const ctx = { runId: 'run-q', institution: inst.id, source: 'druglabel' as const };
    const page = await acts.fetchPage({ ...ctx, endpoint, pageSize: 100 });
    const std = await acts.standardizeBatch({ ...ctx, rawKey: page.rawKey! });
    const deid = await acts.deidentifyBatch({ ...ctx, batchKey: std.batchKey! });
    expect(deid.counts).toEqual({ resourcesQuarantined: 1 });
    const ver = await acts.verifyBatch({ ...ctx, batchKey: deid.batchKey! });
    // The first resource's record is quarantined whole (its Basic sibling with it); every other record is published.
    const mapped = std.counts.in! - std.counts.rejected!;
    expect(ver.counts).toMatchObject({ quarantined: 1, published: mapped - 1, resourcesQuarantined: 1 });
  });

  it('rewrites the same outputs when a run is repeated (idempotent keys)', async () => {
    const acts = createIngestActivities(deps(fakeSteps()));
    await runSource(acts, 'run-b');
    const first = fs.readdirSync(path.join(root, 'out/run-b/fhir')).sort();
    await runSource(acts, 'run-b');
    expect(fs.readdirSync(path.join(root, 'out/run-b/fhir')).sort()).toEqual(first);
    const manifest = JSON.parse(fs.readFileSync(path.join(root, 'out/run-b/manifest.json'), 'utf8'));
    expect(manifest.output.reduce((n: number, o: { count: number }) => n + o.count, 0)).toBe(8);
  });

  it('fails with not supported when a library has not landed, never with a plausible value', async () => {
    const acts = createIngestActivities(
      deps(
        fakeSteps({
          deidentifyResources: async () => Promise.reject(new NotSupportedError('FHIR de-identification')),
        }),
      ),
    );
    const page = await acts.fetchPage({
      runId: 'run-c',
      institution: inst.id,
      source: 'druglabel',
      endpoint,
      pageSize: 10,
    });
    const std = await acts.standardizeBatch({
      runId: 'run-c',
      institution: inst.id,
      source: 'druglabel',
      rawKey: page.rawKey!,
    });
    await expect(
      acts.deidentifyBatch({
        runId: 'run-c',
        institution: inst.id,
        source: 'druglabel',
        batchKey: std.batchKey!,
      }),
    ).rejects.toMatchObject({
      type: 'NotSupportedError',
      nonRetryable: true,
    });
  });

  it('turns 429 into a retryable failure that honours Retry-After, and 500 into a retryable one', async () => {
    const acts = createIngestActivities(deps(fakeSteps()));
    throttleNext = 1;
    await expect(
      acts.fetchPage({ runId: 'run-d', institution: inst.id, source: 'druglabel', endpoint, pageSize: 10 }),
    ).rejects.toMatchObject({
      type: 'throttled',
      nonRetryable: false,
      nextRetryDelay: 3000,
    });
    failNext = 1;
    await expect(
      acts.fetchPage({ runId: 'run-d', institution: inst.id, source: 'druglabel', endpoint, pageSize: 10 }),
    ).rejects.toMatchObject({
      type: 'transient',
      nonRetryable: false,
    });
    const page = await acts.fetchPage({
      runId: 'run-d',
      institution: inst.id,
      source: 'druglabel',
      endpoint,
      pageSize: 10,
    });
    expect(page.counts.pages).toBe(1);
  });

  it('reduces unexpected third-party errors to their class, never their message', async () => {
    const acts = createIngestActivities(
      deps(
        fakeSteps({
          mapPart: async () => {
            JSON.parse('{"name": "Zhang Wei"');
            throw new Error('unreachable');
          },
        }),
      ),
    );
    const page = await acts.fetchPage({
      runId: 'run-e',
      institution: inst.id,
      source: 'druglabel',
      endpoint,
      pageSize: 10,
    });
    const failure = await acts
      .standardizeBatch({ runId: 'run-e', institution: inst.id, source: 'druglabel', rawKey: page.rawKey! })
      .catch((e) => e);
    expect(failure.message).toBe('standardizeBatch: unexpected SyntaxError');
    expect(JSON.stringify(failure)).not.toContain('Zhang');
  });
});
