import { describe, expect, it } from 'vitest';
import type { IngestRunProgress } from '../../schemas/ingest';
import { addCounts, emptyCounts } from '../../workflows/counts';
import { loadInstitutionRegistry } from '../../platform/institutions';
import type { InstitutionRegistry } from '../../schemas/institution';
import { formatReconciliation, planSources } from './ingest';

describe('formatReconciliation', () => {
  it('balances each source and says what the balance cannot show: unreadable files, records lost upstream, work items replaced or not, images before their EHR', () => {
    const feed = addCounts(emptyCounts(), {
      in: 27,
      published: 26,
      rejected: 1,
      pages: 9,
      sourceGaps: 1,
      itemsUpdated: 2,
      itemConflicts: 3,
    });
    const labels = addCounts(emptyCounts(), { in: 4, published: 4, pages: 2, pagesQuarantined: 1 });
    const images = addCounts(emptyCounts(), { in: 6, published: 6, pages: 1, imagesWithoutPatient: 2 });
    const progress: IngestRunProgress = {
      runId: 'run-1',
      sources: [
        { institution: 'hz-zheyi-bay', source: 'ehr', workflowId: 'w1', status: 'completed', counts: feed },
        {
          institution: 'hz-zheyi-bay',
          source: 'druglabel',
          workflowId: 'w2',
          status: 'completed',
          counts: labels,
        },
        {
          institution: 'hz-zheyi-bay',
          source: 'imaging',
          workflowId: 'w3',
          status: 'completed',
          counts: images,
        },
      ],
      totals: addCounts(addCounts(feed, labels), images),
      done: true,
    };
    const { text, balanced } = formatReconciliation(progress);
    expect(balanced).toBe(true);
    const notes = text.split('\n\n')[1].split('\n');
    expect(notes).toEqual([
      expect.stringMatching(
        /^hz-zheyi-bay\/ehr: 1 file\(s\) or batch\(es\) whose own count .* differs from the records that arrived: records may be missing upstream/,
      ),
      expect.stringMatching(
        /^hz-zheyi-bay\/ehr: 2 work item\(s\) replaced by a newer version of the same record .* before any annotator began them$/,
      ),
      expect.stringMatching(
        /^hz-zheyi-bay\/ehr: 3 work item\(s\) arrived with the id of a queued item and other content but did not replace it .* annotators keep the queued version/,
      ),
      expect.stringMatching(/^hz-zheyi-bay\/druglabel: 1 file\(s\) could not be read at all/),
      expect.stringMatching(
        /^hz-zheyi-bay\/imaging: 2 DICOM instance\(s\) arrived before any EHR record of their patient .* once the EHR is in, ingest this imaging again: tributary ingest run --institution hz-zheyi-bay --source imaging/,
      ),
    ]);
    // Counts from before sourceGaps existed add up as zero.
    const {
      sourceGaps: _,
      imagesWithoutPatient: __,
      itemsUpdated: ___,
      itemConflicts: ____,
      ...before
    } = emptyCounts();
    expect(addCounts(before, { in: 1 })).toMatchObject({
      in: 1,
      sourceGaps: 0,
      imagesWithoutPatient: 0,
      itemsUpdated: 0,
      itemConflicts: 0,
    });
  });
});

describe('formatReconciliation, imaging of an institution that sends no EHR', () => {
  it('says its images are linked by Patient ID for good, not that its EHR is late', () => {
    const images = addCounts(emptyCounts(), { in: 3, published: 3, pages: 1, imagesWithoutPatient: 3 });
    const progress: IngestRunProgress = {
      runId: 'run-2',
      sources: [
        { institution: 'pacs-only', source: 'imaging', workflowId: 'w', status: 'completed', counts: images },
      ],
      totals: images,
      done: true,
    };
    const registry: InstitutionRegistry = {
      version: 1,
      institutions: [
        {
          id: 'pacs-only',
          name: 'PACS',
          locale: 'en-US',
          timezone: 'UTC',
          imaging: { modalities: ['CT'], manufacturer: 'X' },
        },
      ],
    };
    const [, notes] = formatReconciliation(progress, undefined, registry).text.split('\n\n');
    expect(notes).toBe(
      "pacs-only/imaging: 3 DICOM instance(s) linked by their DICOM Patient ID (or Study UID): pacs-only sends no EHR, so a person's studies are linked to each other, not to a Patient",
    );
  });
});

describe('planSources', () => {
  const demo = loadInstitutionRegistry();
  const registry: InstitutionRegistry = {
    version: 1,
    institutions: [
      demo.institutions[0],
      {
        id: 'his-only',
        name: 'HIS',
        locale: 'zh-CN',
        timezone: 'Asia/Shanghai',
        ehr: { format: 'his-csv', encoding: 'gbk' },
      },
      {
        id: 'pacs-only',
        name: 'PACS',
        locale: 'en-US',
        timezone: 'UTC',
        imaging: { modalities: ['CT'], manufacturer: 'X' },
      },
    ],
  };
  const full = demo.institutions[0].id;

  it('a registry whose institutions send everything plans the same input as before (no per-institution list)', () => {
    expect(planSources(demo, undefined, undefined)).toEqual({
      institutions: demo.institutions.map((i) => i.id),
      sources: ['ehr', 'imaging', 'wearable', 'druglabel', 'insurance'],
    });
  });

  it('takes of the kinds asked for those each institution sends', () => {
    expect(planSources(registry, undefined, undefined)).toEqual({
      institutions: [full, 'his-only', 'pacs-only'],
      sources: ['ehr', 'imaging', 'wearable', 'druglabel', 'insurance'],
      institutionSources: {
        [full]: ['ehr', 'imaging', 'wearable', 'druglabel', 'insurance'],
        'his-only': ['ehr'],
        'pacs-only': ['imaging'],
      },
    });
    // --source imaging over every institution: those that send none are left out.
    expect(planSources(registry, undefined, ['imaging'])).toEqual({
      institutions: [full, 'pacs-only'],
      sources: ['imaging'],
    });
  });

  it('refuses an institution named with --institution that sends none of the kinds asked for, and a kind no one sends', () => {
    expect(() => planSources(registry, ['his-only'], ['imaging', 'wearable'])).toThrow(
      '--institution his-only sends ehr only, none of --source imaging, wearable (registry)',
    );
    expect(() => planSources(registry, ['pacs-only', 'his-only'], ['wearable'])).toThrow(
      '--institution pacs-only',
    );
    expect(() =>
      planSources({ ...registry, institutions: registry.institutions.slice(1) }, undefined, ['wearable']),
    ).toThrow('--source wearable: no institution in the registry sends it');
    expect(() => planSources(registry, ['nowhere'], undefined)).toThrow(
      '--institution: not in the registry: nowhere',
    );
  });
});
