import fs from 'node:fs';
import { z } from 'zod';
import { parseAtEdge } from '../platform/config';
import { readAscii, type DicomNode } from './dicom-model';
import type { PixelInfo } from './pixels';

/**
 * Burned-in text: which images may carry it, and the mask rules (data, config/dicom/burned-in-rules.json) that say
 * where it is for a given manufacturer, model, modality and image size.
 */

const regionSchema = z.object({
  x: z.number().int().min(0),
  y: z.number().int().min(0),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
});
export type MaskRegion = z.infer<typeof regionSchema>;

const ruleSchema = z.object({
  id: z.string().min(1),
  description: z.string().optional(),
  manufacturer: z.string().optional(),
  model: z.string().optional(),
  modality: z.array(z.string()).optional(),
  rows: z.number().int().positive().optional(),
  columns: z.number().int().positive().optional(),
  regions: z.array(regionSchema).min(1),
});
export type MaskRule = z.infer<typeof ruleSchema>;

const rulesFileSchema = z.object({ description: z.string().optional(), rules: z.array(ruleSchema) });

/** Modalities whose images commonly carry burned-in text (ultrasound, angiography, secondary capture). */
const RISKY_MODALITIES = new Set(['US', 'XA', 'SC', 'IVUS', 'ES', 'XC']);
const SECONDARY_CAPTURE_PREFIX = '1.2.840.10008.5.1.4.1.1.7';

let cachedRules: MaskRule[] | undefined;

export function loadMaskRules(file?: string): MaskRule[] {
  if (!file && cachedRules) return cachedRules;
  const url = file ?? new URL('../config/dicom/burned-in-rules.json', import.meta.url);
  const rules = parseAtEdge(
    rulesFileSchema,
    JSON.parse(fs.readFileSync(url, 'utf8')),
    String(file ?? 'config/dicom/burned-in-rules.json'),
  ).rules;
  if (!file) cachedRules = rules;
  return rules;
}

export interface BurnedInAssessment {
  /** True when the image may carry burned-in text and must be cleaned (or quarantined). */
  atRisk: boolean;
  reason: string;
}

export function assessBurnedIn(nodes: DicomNode[]): BurnedInAssessment {
  const flag = readAscii(nodes, 'x00280301')?.toUpperCase();
  if (flag === 'YES') return { atRisk: true, reason: 'BurnedInAnnotation is YES' };
  const modality = readAscii(nodes, 'x00080060')?.toUpperCase() ?? '';
  if (RISKY_MODALITIES.has(modality))
    return { atRisk: true, reason: `modality ${modality} commonly carries burned-in text` };
  const sopClass = readAscii(nodes, 'x00080016') ?? '';
  if (sopClass.startsWith(SECONDARY_CAPTURE_PREFIX))
    return { atRisk: true, reason: 'secondary capture commonly carries burned-in text' };
  return {
    atRisk: false,
    reason:
      flag === 'NO'
        ? 'BurnedInAnnotation is NO'
        : `modality ${modality || 'unknown'} is not known to carry burned-in text`,
  };
}

function matches(pattern: string | undefined, value: string | undefined): boolean {
  if (pattern === undefined) return true;
  return new RegExp(`^(?:${pattern})$`, 'i').test((value ?? '').trim());
}

export function findMaskRule(
  nodes: DicomNode[],
  info: PixelInfo,
  rules: MaskRule[] = loadMaskRules(),
): MaskRule | undefined {
  const manufacturer = readAscii(nodes, 'x00080070');
  const model = readAscii(nodes, 'x00081090');
  const modality = readAscii(nodes, 'x00080060')?.toUpperCase();
  return rules.find(
    (r) =>
      matches(r.manufacturer, manufacturer) &&
      matches(r.model, model) &&
      (!r.modality || (modality !== undefined && r.modality.includes(modality))) &&
      (r.rows === undefined || r.rows === info.rows) &&
      (r.columns === undefined || r.columns === info.columns),
  );
}
