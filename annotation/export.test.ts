import { describe, expect, it } from 'vitest';
import { validateFhirResource } from '../mappers/validate';
import { exportFhirBundle, exportJsonl, exportLabelStudio, sourceReference } from './export';
import type { ExportRow } from './store';

const label = (annotator: string, labels: unknown, n: number) => ({
  assignmentId: String(n),
  annotator,
  round: 1,
  labels: labels as never,
  category: 'c',
  submittedAt: '2026-11-25T10:00:00.000Z',
});

const rows: ExportRow[] = [
  {
    queue: 'cardiology',
    taskType: 'classification',
    itemId: 'inst-a:ehr:DocumentReference/doc-1',
    resourceType: 'DocumentReference',
    sourceKind: 'ehr',
    content: {
      id: 'inst-a:ehr:DocumentReference/doc-1',
      institution: 'inst-a',
      sourceKind: 'ehr',
      resourceType: 'DocumentReference',
      summary: { excerpts: ['chest pain'] },
    },
    status: 'accepted',
    round: 1,
    gold: false,
    reviewDecision: 'accept',
    labels: [
      label('dr-a', { label: 'acute-coronary-syndrome' }, 1),
      label('dr-b', { label: 'acute-coronary-syndrome' }, 2),
    ],
  },
  {
    queue: 'pharmacy',
    taskType: 'free-text-finding',
    itemId: 'inst-a:druglabel:x-7',
    resourceType: 'MedicationKnowledge',
    sourceKind: 'druglabel',
    content: {
      id: 'inst-a:druglabel:x-7',
      institution: 'inst-a',
      sourceKind: 'druglabel',
      resourceType: 'MedicationKnowledge',
      summary: {},
    },
    status: 'review',
    round: 1,
    gold: false,
    reviewDecision: null,
    labels: [label('dr-c', { present: true, finding: 'renal dose conflict' }, 3)],
  },
  {
    queue: 'radiology-chest',
    taskType: 'image-region',
    itemId: 'inst-b:imaging:ImagingStudy/st-9',
    resourceType: 'ImagingStudy',
    sourceKind: 'imaging',
    content: {
      id: 'inst-b:imaging:ImagingStudy/st-9',
      institution: 'inst-b',
      sourceKind: 'imaging',
      resourceType: 'ImagingStudy',
      summary: {},
      bodySite: 'CHEST',
      previews: [{ ref: 'a.png' }],
    },
    status: 'open',
    round: 1,
    gold: false,
    reviewDecision: null,
    labels: [
      label(
        'dr-d',
        { regions: [{ preview: 0, label: 'nodule', x: 0.1, y: 0.2, width: 0.3, height: 0.4 }] },
        4,
      ),
    ],
    // The study was corrected at its source after dr-d drew the region.
    sourceCorrectedAt: '2026-11-26T08:00:00.000Z',
  },
];

describe('label exports', () => {
  it('FHIR: valid R4 resources, derivedFrom the source, DiagnosticReport for regions', () => {
    const bundle = exportFhirBundle(rows) as { entry: { resource: Record<string, unknown> }[] };
    expect(bundle.entry.map((e) => e.resource.resourceType)).toEqual([
      'Observation',
      'Observation',
      'Observation',
      'Observation',
      'DiagnosticReport',
    ]);
    for (const e of bundle.entry)
      expect(validateFhirResource(e.resource as never), String(e.resource.resourceType)).toEqual([]);
    expect(bundle.entry[0].resource).toMatchObject({
      status: 'final',
      derivedFrom: [{ reference: 'DocumentReference/doc-1' }],
    });
    expect(bundle.entry[2].resource).toMatchObject({
      status: 'preliminary',
      valueBoolean: true,
      derivedFrom: [{ identifier: { value: 'inst-a:druglabel:x-7' } }],
    });
    expect(bundle.entry[4].resource).toMatchObject({
      imagingStudy: [{ reference: 'ImagingStudy/st-9' }],
      result: [{ reference: expect.stringContaining(':region:0') }],
    });
    expect(validateFhirResource(bundle as never)).toEqual([]);
    // Only the labels on the corrected study say that its source changed since.
    const corrected = bundle.entry.map((e) =>
      (e.resource.meta as { tag: { code: string }[] }).tag.some((t) => t.code === 'source-corrected'),
    );
    expect(corrected).toEqual([false, false, false, true, true]);
  });

  it('JSONL: one line per submission; Label Studio: percent rectangles and choices', () => {
    const lines = exportJsonl(rows)
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { sourceCorrectedAt?: string });
    expect(lines.map((l) => l.sourceCorrectedAt)).toEqual([
      undefined,
      undefined,
      undefined,
      '2026-11-26T08:00:00.000Z',
    ]);
    const tasks = exportLabelStudio(rows, (r, i) => `/p/${r.itemId}/${i}`) as {
      data: Record<string, string>;
      meta: Record<string, unknown>;
      annotations: { result: unknown[] }[];
    }[];
    expect(tasks[0].annotations[0].result[0]).toEqual({
      from_name: 'label',
      to_name: 'text',
      type: 'choices',
      value: { choices: ['acute-coronary-syndrome'] },
    });
    expect(tasks[2].data.image).toBe('/p/inst-b:imaging:ImagingStudy/st-9/0');
    expect(tasks.map((t) => t.meta.source_corrected_at)).toEqual([
      undefined,
      undefined,
      '2026-11-26T08:00:00.000Z',
    ]);
    expect(tasks[2].annotations[0].result[0]).toMatchObject({
      type: 'rectanglelabels',
      value: { x: 10, y: 20, width: 30, height: 40, rectanglelabels: ['nodule'] },
    });
    expect(sourceReference(rows[1])).toEqual({
      identifier: { system: 'urn:tributary:work-item', value: 'inst-a:druglabel:x-7' },
    });
  });
});
