import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { FhirResource, MapResult } from '../types';

/** The shared real samples (../shared/data relative to the repo). */
export const DATA_DIR =
  process.env.TRIBUTARY_SAMPLE_DATA ?? join(import.meta.dirname, '..', '..', '..', 'shared', 'data');

export function sample(...parts: string[]): Buffer {
  return readFileSync(join(DATA_DIR, ...parts));
}

export function sampleFiles(dir: string, ext?: string): string[] {
  const root = join(DATA_DIR, dir);
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (!ext || name.endsWith(ext)) out.push(p);
    }
  };
  walk(root);
  return out;
}

/** A Chinese drug label as the cn-label format writes one (synth/FORMATS.md): the required sections and more. */
export const NMPA_LABEL = [
  '核准日期：2014年02月04日',
  '修改日期：2024年10月24日',
  '【药品名称】',
  '通用名称：阿托伐他汀钙片',
  '商品名称：立普妥',
  '英文名称：Atorvastatin Calcium Tablets',
  '【成份】',
  '本品主要成份为阿托伐他汀钙。',
  '【适应症】',
  '高胆固醇血症。',
  '【用法用量】',
  '口服，一次20mg，每日一次。',
  '【批准文号】 国药准字H20051408',
  '【生产企业】',
  '企业名称：虚构制药有限公司',
].join('\n');

export function byType(result: MapResult, type: string): FhirResource[] {
  return result.resources.filter((r) => r.resourceType === type);
}

/** The reconciliation every mapper promises: in = mapped + rejected, and every rejection is explained with a location. */
export function expectReconciled(result: MapResult): void {
  expect(result.recordsIn).toBe(result.recordsMapped + result.recordsRejected);
  const errors = result.issues.filter((i) => i.severity === 'error' || i.severity === 'fatal');
  expect(errors.length).toBeGreaterThanOrEqual(result.recordsRejected);
  for (const i of result.issues) {
    expect(i.location?.[0]).toBeTruthy();
    expect(i.diagnostics).toBeTruthy();
  }
  if (result.recordsMapped > 0) expect(result.resources.length).toBeGreaterThan(0);
}
