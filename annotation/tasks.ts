import { z } from 'zod';
import { parseAtEdge } from '../platform/config';
import { TributaryError } from '../platform/errors';
import type { QueueDefinition, TaskType } from './routing';

/**
 * Label schemas per task type, and the category each submission reduces to for agreement and gold scoring:
 * - classification: the chosen label;
 * - free-text-finding: whether a finding is present (the text itself is for the reviewer);
 * - image-region: the sorted set of region labels drawn, or `none`.
 */

export const classificationLabelsSchema = z.strictObject({
  label: z.string().min(1).max(100),
  confidence: z.enum(['low', 'medium', 'high']).optional(),
  comment: z.string().max(2000).optional(),
});

export const freeTextFindingLabelsSchema = z
  .strictObject({
    present: z.boolean(),
    finding: z.string().max(4000).default(''),
    comment: z.string().max(2000).optional(),
  })
  .refine((v) => !v.present || v.finding.trim().length > 0, {
    path: ['finding'],
    message: 'describe the finding when one is present',
  });

const unit = z.number().min(0).max(1);
export const imageRegionSchema = z
  .strictObject({
    preview: z.number().int().min(0).max(49),
    label: z.string().min(1).max(100),
    /** Normalized to the preview's width and height (0..1), origin top-left. */
    x: unit,
    y: unit,
    width: unit,
    height: unit,
  })
  .refine((r) => r.x + r.width <= 1.000001 && r.y + r.height <= 1.000001, {
    message: 'the region must lie inside the image',
  });
export const imageRegionLabelsSchema = z.strictObject({
  regions: z.array(imageRegionSchema).max(200),
  comment: z.string().max(2000).optional(),
});

export const taskLabelSchemas = {
  classification: classificationLabelsSchema,
  'free-text-finding': freeTextFindingLabelsSchema,
  'image-region': imageRegionLabelsSchema,
} as const;

export type ClassificationLabels = z.infer<typeof classificationLabelsSchema>;
export type FreeTextFindingLabels = z.infer<typeof freeTextFindingLabelsSchema>;
export type ImageRegionLabels = z.infer<typeof imageRegionLabelsSchema>;
export type TaskLabels = ClassificationLabels | FreeTextFindingLabels | ImageRegionLabels;

/** Parse a submission for a queue: the task type's schema, then the queue's own label set. */
export function parseLabels(queue: QueueDefinition, input: unknown, where = 'labels'): TaskLabels {
  const labels = parseAtEdge(taskLabelSchemas[queue.taskType], input, where) as TaskLabels;
  const allowed = new Set(queue.labels);
  const bad = (path: string) => {
    throw new TributaryError(
      `${where} is invalid:\n  ${path}: not one of this queue's labels (${queue.labels.join(', ')})`,
      {
        code: 'invalid',
        location: `${where}.${path}`,
        nonRetryable: true,
      },
    );
  };
  if (queue.taskType === 'classification' && !allowed.has((labels as ClassificationLabels).label))
    bad('label');
  if (queue.taskType === 'image-region') {
    (labels as ImageRegionLabels).regions.forEach((r, i) => {
      if (!allowed.has(r.label)) bad(`regions.${i}.label`);
    });
  }
  return labels;
}

export function categoryOf(taskType: TaskType, labels: TaskLabels): string {
  switch (taskType) {
    case 'classification':
      return (labels as ClassificationLabels).label;
    case 'free-text-finding':
      return (labels as FreeTextFindingLabels).present ? 'present' : 'absent';
    case 'image-region': {
      const set = [...new Set((labels as ImageRegionLabels).regions.map((r) => r.label))].sort();
      return set.length ? set.join('+') : 'none';
    }
  }
}
