import { describe, expect, it } from 'vitest';
import type { IngestRunProgress } from '../../schemas/ingest';
import { addCounts, emptyCounts } from '../../workflows/counts';
import { formatReconciliation } from './ingest';

describe('formatReconciliation', () => {
  it('balances each source and says what the balance cannot show: unreadable files, records lost upstream, images before their EHR', () => {
    const feed = addCounts(emptyCounts(), { in: 27, published: 26, rejected: 1, pages: 9, sourceGaps: 1 });
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
      expect.stringMatching(/^hz-zheyi-bay\/druglabel: 1 file\(s\) could not be read at all/),
      expect.stringMatching(
        /^hz-zheyi-bay\/imaging: 2 DICOM instance\(s\) arrived before any EHR record of their patient .* once the EHR is in, ingest this imaging again: tributary ingest run --institution hz-zheyi-bay --source imaging/,
      ),
    ]);
    // Counts from before sourceGaps existed add up as zero.
    const { sourceGaps: _, imagesWithoutPatient: __, ...before } = emptyCounts();
    expect(addCounts(before, { in: 1 })).toMatchObject({ in: 1, sourceGaps: 0, imagesWithoutPatient: 0 });
  });
});
