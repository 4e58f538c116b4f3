import { describe, expect, it } from 'vitest';
import { loadInstitutionRegistry } from '../platform/institutions';
import {
  institutionRegistrySchema,
  institutionSchema,
  registryFormatOf,
  sendsAll,
  sourcesOf,
} from './institution';

const base = { id: 'tianchi-checkup', name: 'Tianchi', locale: 'zh-CN', timezone: 'Asia/Shanghai' };

describe('institution registry entries', () => {
  it('an institution sends the kinds it has a block for: an HIS export alone, or a PACS alone', () => {
    const his = institutionSchema.parse({ ...base, ehr: { format: 'his-csv', encoding: 'gbk' } });
    expect(sourcesOf(his)).toEqual(['ehr']);
    expect(sendsAll(his)).toBe(false);
    expect(registryFormatOf(his, 'ehr')).toBe('his-csv');
    expect(registryFormatOf(his, 'wearable')).toBeUndefined();
    const pacs = institutionSchema.parse({ ...base, imaging: { modalities: ['CT'], manufacturer: 'X' } });
    expect(sourcesOf(pacs)).toEqual(['imaging']);
  });

  it('one that sends nothing is refused, naming the kinds it could send', () => {
    const result = institutionRegistrySchema.safeParse({ version: 1, institutions: [base] });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0].path).toEqual(['institutions', 0]);
    expect(result.error?.issues[0].message).toBe(
      'sends nothing: give at least one of ehr, imaging, wearable, druglabel, insurance',
    );
  });

  it('the 18 demo institutions send every kind', () => {
    const registry = loadInstitutionRegistry();
    expect(registry.institutions).toHaveLength(18);
    for (const inst of registry.institutions) expect(sendsAll(inst), inst.id).toBe(true);
  });
});
