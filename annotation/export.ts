import type { ExportRow, LabelRecord } from './store';
import type { ClassificationLabels, FreeTextFindingLabels, ImageRegionLabels } from './tasks';

/**
 * Label exports for a queue: JSONL (one submission a line), FHIR R4 (a collection Bundle: an Observation per
 * submission with derivedFrom the source resource; image-region submissions as a DiagnosticReport whose results
 * are one Observation per region), and Label Studio task JSON (importable, annotations included). Labels on an item
 * whose source was corrected after annotation began say so in each format: the labels belong to the version shown.
 */

export const exportFormats = ['jsonl', 'fhir', 'label-studio'] as const;
export type ExportFormat = (typeof exportFormats)[number];

export function exportJsonl(rows: ExportRow[]): string {
  const lines: string[] = [];
  for (const row of rows) {
    for (const l of row.labels) {
      lines.push(
        JSON.stringify({
          queue: row.queue,
          taskType: row.taskType,
          itemId: row.itemId,
          itemStatus: row.status,
          round: l.round,
          annotator: l.annotator,
          labels: l.labels,
          category: l.category,
          submittedAt: l.submittedAt,
          ...(row.sourceCorrectedAt ? { sourceCorrectedAt: row.sourceCorrectedAt } : {}),
        }),
      );
    }
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** The published de-identified resource this item was built from. */
export function sourceReference(
  row: ExportRow,
): { reference: string } | { identifier: { system: string; value: string } } {
  const id = row.content.summary.resource?.id;
  if (typeof id === 'string' && /^[A-Za-z0-9\-.]{1,64}$/.test(id))
    return { reference: `${row.resourceType}/${id}` };
  const tail = /([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(row.itemId);
  if (tail && tail[1] === row.resourceType) return { reference: `${tail[1]}/${tail[2]}` };
  return { identifier: { system: 'urn:tributary:work-item', value: row.itemId } };
}

const taskCode = (row: ExportRow) => ({
  coding: [{ system: 'urn:tributary:annotation-queue', code: row.queue }],
  text: `annotation: ${row.queue} (${row.taskType})`,
});
const labelCoding = (row: ExportRow, label: string) => ({
  coding: [{ system: `urn:tributary:annotation-queue:${row.queue}:label`, code: label }],
  text: label,
});

/** On labels given to a version of the source that a later version has corrected (ExportRow.sourceCorrectedAt). */
const SOURCE_CORRECTED_TAG = {
  system: 'urn:tributary:work-item-status',
  code: 'source-corrected',
  display: 'the source record was corrected after these labels were given',
};

export function exportFhirBundle(rows: ExportRow[]): Record<string, unknown> {
  const entry: { fullUrl: string; resource: Record<string, unknown> }[] = [];
  for (const row of rows) {
    const derivedFrom = [sourceReference(row)];
    const status =
      row.status === 'accepted' ? 'final' : row.status === 'rejected' ? 'cancelled' : 'preliminary';
    for (const l of row.labels) {
      const base = {
        status,
        code: taskCode(row),
        performer: [{ identifier: { system: 'urn:tributary:annotator', value: l.annotator } }],
        issued: l.submittedAt,
        derivedFrom,
        meta: {
          tag: [
            { system: 'urn:tributary:work-item', code: row.itemId },
            ...(row.sourceCorrectedAt ? [SOURCE_CORRECTED_TAG] : []),
          ],
        },
      };
      const fullUrl = `urn:tributary:annotation:${row.queue}:${l.assignmentId}`;
      if (row.taskType === 'classification') {
        entry.push({
          fullUrl,
          resource: {
            resourceType: 'Observation',
            ...base,
            valueCodeableConcept: labelCoding(row, (l.labels as ClassificationLabels).label),
          },
        });
      } else if (row.taskType === 'free-text-finding') {
        const v = l.labels as FreeTextFindingLabels;
        entry.push({
          fullUrl,
          resource: {
            resourceType: 'Observation',
            ...base,
            valueBoolean: v.present,
            ...(v.finding ? { note: [{ text: v.finding }] } : {}),
          },
        });
      } else {
        const regions = (l.labels as ImageRegionLabels).regions;
        const results = regions.map((r, i) => {
          const url = `${fullUrl}:region:${i}`;
          entry.push({
            fullUrl: url,
            resource: {
              resourceType: 'Observation',
              ...base,
              valueCodeableConcept: labelCoding(row, r.label),
              component: (['x', 'y', 'width', 'height'] as const).map((k) => ({
                code: { coding: [{ system: 'urn:tributary:image-region', code: k }] },
                valueQuantity: {
                  value: r[k],
                  unit: 'fraction of preview',
                  system: 'http://unitsofmeasure.org',
                  code: '1',
                },
              })),
              bodySite: row.content.bodySite ? { text: row.content.bodySite } : undefined,
              note: [{ text: `preview ${r.preview}` }],
            },
          });
          return { reference: url };
        });
        entry.push({
          fullUrl,
          resource: {
            resourceType: 'DiagnosticReport',
            status,
            code: taskCode(row),
            performer: base.performer,
            issued: l.submittedAt,
            meta: base.meta,
            ...(row.resourceType === 'ImagingStudy' && 'reference' in derivedFrom[0]
              ? { imagingStudy: derivedFrom }
              : {}),
            result: results,
            conclusion: regions.length
              ? `regions: ${[...new Set(regions.map((r) => r.label))].sort().join(', ')}`
              : 'no regions',
          },
        });
      }
    }
  }
  return {
    resourceType: 'Bundle',
    type: 'collection',
    entry: entry.map((e) => ({ ...e, resource: dropUndefined(e.resource) })),
  };
}

function dropUndefined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** Label Studio tasks: data holds the de-identified text and preview URLs, annotations the submissions. */
export function exportLabelStudio(
  rows: ExportRow[],
  previewUrl: (row: ExportRow, index: number) => string,
): Record<string, unknown>[] {
  return rows.map((row, n) => ({
    id: n + 1,
    data: {
      item_id: row.itemId,
      title: row.content.summary.title ?? '',
      text: (row.content.summary.excerpts ?? []).join('\n\n'),
      ...(row.content.previews?.length ? { image: previewUrl(row, 0) } : {}),
    },
    meta: {
      queue: row.queue,
      status: row.status,
      round: row.round,
      ...(row.sourceCorrectedAt ? { source_corrected_at: row.sourceCorrectedAt } : {}),
    },
    annotations: row.labels.map((l) => ({
      completed_by: l.annotator,
      created_at: l.submittedAt,
      ground_truth: false,
      result: labelStudioResult(row, l),
    })),
  }));
}

function labelStudioResult(row: ExportRow, l: LabelRecord): Record<string, unknown>[] {
  switch (row.taskType) {
    case 'classification':
      return [
        {
          from_name: 'label',
          to_name: 'text',
          type: 'choices',
          value: { choices: [(l.labels as ClassificationLabels).label] },
        },
      ];
    case 'free-text-finding': {
      const v = l.labels as FreeTextFindingLabels;
      return [
        {
          from_name: 'present',
          to_name: 'text',
          type: 'choices',
          value: { choices: [v.present ? 'present' : 'absent'] },
        },
        ...(v.finding
          ? [{ from_name: 'finding', to_name: 'text', type: 'textarea', value: { text: [v.finding] } }]
          : []),
      ];
    }
    case 'image-region':
      return (l.labels as ImageRegionLabels).regions.map((r, i) => ({
        id: `r${i}`,
        from_name: 'label',
        to_name: 'image',
        type: 'rectanglelabels',
        image_rotation: 0,
        value: {
          x: r.x * 100,
          y: r.y * 100,
          width: r.width * 100,
          height: r.height * 100,
          rotation: 0,
          rectanglelabels: [r.label],
        },
      }));
  }
}
