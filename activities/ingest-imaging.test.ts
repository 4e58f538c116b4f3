import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotSupportedError, TributaryError } from '../platform/errors';
import { loadInstitutionRegistry } from '../platform/institutions';
import type { DicomSummary } from '../schemas/dicom-summary';
import type { SourceCounts } from '../schemas/ingest';
import { addCounts, emptyCounts } from '../workflows/counts';
import { createConnectors } from './connectors';
import { createIngestActivities } from './ingest';
import { readRunProblems } from './run-problems';
import { createFileBlobStore } from './staging';
import { startFileDrop } from './test-support/file-drop';
import type { StepLibrary } from './steps';

/**
 * The imaging chain over a real encrypted store and a real HTTP file drop, with test-double DICOM libraries whose
 * "instances" are text (`sop;pixels`): an instance the denoiser does not support is quarantined and its study goes
 * on, and two instances under one SOP Instance UID are one file, the second quarantined when its bytes differ.
 */
const registry = loadInstitutionRegistry();
const inst = registry.institutions[0];

const files: Record<string, string> = {
  'imaging/study-a/one.dcm': '1.1;plain',
  'imaging/study-a/two.dcm': '1.2;jpeg2000',
  'imaging/study-b/three.dcm': '1.1;other pixels',
  'imaging/study-c/four.dcm': '1.1;plain',
  'imaging/study-c/report.dcm': '1.3;no pixel data',
  'imaging/study-c/broken.dcm': '1.4;broken pixels',
};

const summaryOf = (text: string, file: string): DicomSummary => ({
  studyInstanceUid: `2.25.${path.basename(path.dirname(file)).length}`,
  seriesInstanceUid: '2.25.9',
  sopInstanceUid: `2.25.${text.split(';')[0]}`,
  sopClassUid: '1.2.840.10008.5.1.4.1.1.4',
  linkedBy: 'patient-id',
});

const steps: StepLibrary = {
  async mapPart() {
    throw new NotSupportedError('mapping');
  },
  riskTally: () => {
    throw new NotSupportedError('risk');
  },
  linkPatient() {
    throw new NotSupportedError('linkage');
  },
  async deidentifyResources() {
    throw new NotSupportedError('FHIR de-identification');
  },
  async validateResources(resources) {
    return resources.map(() => []);
  },
  async deidentifyDicom(bytes, { where }) {
    return { status: 'ok', bytes, summary: summaryOf(bytes.toString('utf8'), where) };
  },
  async denoiseDicom(bytes, where) {
    const text = bytes.toString('utf8');
    if (text.includes('jpeg2000')) throw new NotSupportedError(`${where}: denoising JPEG 2000`);
    if (text.includes('broken'))
      throw new TributaryError(`${where}: pixel data shorter than Rows x Columns x Frames`, {
        code: 'structure',
        nonRetryable: true,
      });
    return bytes;
  },
  mapImagingStudies(summaries) {
    const studies = [...new Set(summaries.map((s) => s.studyInstanceUid))];
    return {
      resources: studies.map((uid, i) => ({
        resourceType: 'ImagingStudy',
        id: `study-${i}`,
        status: 'available',
        subject: { reference: 'Patient/p' },
        series: [
          {
            uid: '2.25.9',
            modality: { code: 'MR' },
            instance: summaries
              .filter((s) => s.studyInstanceUid === uid)
              .map((s) => ({ uid: s.sopInstanceUid, sopClass: { code: s.sopClassUid } })),
          },
        ],
      })),
      issues: [],
      recordsIn: summaries.length,
      recordsMapped: summaries.length,
      recordsRejected: 0,
    };
  },
};

describe('imaging activities', () => {
  let root: string;
  let drop: Awaited<ReturnType<typeof startFileDrop>>;
  let endpoint: string;

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'ingest-img-'));
    drop = await startFileDrop(inst.id, files);
    endpoint = drop.endpoint;
  });
  afterAll(() => {
    drop.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('quarantines what it cannot denoise and a second instance under one SOP Instance UID, and publishes the rest once', async () => {
    const store = createFileBlobStore({
      root: path.join(root, 'staging'),
      key: { key: crypto.randomBytes(32) },
    });
    const acts = createIngestActivities({
      store,
      outputRoot: path.join(root, 'out'),
      registry,
      // Two instances a page: study-a, then study-b, then study-c are pages of their own.
      connectors: createConnectors({ ratePerSecond: 1000, filesPerPage: 2 }),
      steps,
      // The ImagingStudy work items go with the time their page was received (versions of an item are ordered by it).
      async route(items, routeCtx) {
        received.push(routeCtx.receivedAt);
        return { routed: items.length, updated: 0, conflicts: 0 };
      },
    });
    const received: (string | undefined)[] = [];
    const start = new Date().toISOString();
    const ctx = { runId: 'img-run', institution: inst.id, source: 'imaging' as const };
    let totals = emptyCounts();
    const add = (c: Partial<SourceCounts>) => (totals = addCounts(totals, c));
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await acts.fetchPage({ ...ctx, endpoint, cursor, pageSize: 100 });
      add(page.counts);
      if (page.rawKey) {
        pages++;
        const clean = await acts.cleanImages({ ...ctx, rawKey: page.rawKey });
        add(clean.counts);
        const std = await acts.standardizeImages({ ...ctx, imagesKey: clean.imagesKey });
        const ver = await acts.verifyBatch({ ...ctx, batchKey: std.batchKey! });
        add(ver.counts);
        add((await acts.publishBatch({ ...ctx, batchKey: ver.batchKey })).counts);
        add((await acts.routeBatch({ ...ctx, batchKey: ver.batchKey })).counts);
      }
      cursor = page.nextCursor;
    } while (cursor);

    expect(pages).toBe(3);
    expect(received).toHaveLength(3);
    for (const at of received) expect(at! >= start && at! <= new Date().toISOString()).toBe(true);
    // one, four (the same bytes as one) and the report are published; two, three and broken are quarantined.
    expect({ in: totals.in, published: totals.published, quarantined: totals.quarantined }).toEqual({
      in: 6,
      published: 3,
      quarantined: 3,
    });
    expect(fs.readdirSync(path.join(root, 'out', 'img-run', 'dicom', inst.id)).sort()).toEqual([
      '2.25.1.1.dcm',
      '2.25.1.3.dcm',
    ]);
    expect(fs.readFileSync(path.join(root, 'out', 'img-run', 'dicom', inst.id, '2.25.1.1.dcm'), 'utf8')).toBe(
      '1.1;plain',
    );
    const problems = await readRunProblems(store, 'img-run');
    expect(problems.quarantined.map((p) => `${p.where} ${p.rule}`).sort()).toEqual([
      'imaging/study-a/two.dcm denoise.not-supported',
      'imaging/study-b/three.dcm dicom.duplicate-sop-instance-uid',
      'imaging/study-c/broken.dcm denoise.unreadable',
    ]);

    // A retried page decides the same: the refusals are staged, and the published file is this run's own.
    const again = await acts.cleanImages({
      ...ctx,
      rawKey: (await acts.fetchPage({ ...ctx, endpoint, pageSize: 100 })).rawKey!,
    });
    expect(again.counts.quarantined).toBe(1);
  });
});
