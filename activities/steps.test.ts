import { describe, expect, it } from 'vitest';
import type { Institution } from '../schemas/institution';
import { profileFor } from './steps';

describe('profileFor', () => {
  it('de-identifies drug labels and insurance catalogs as reference data, patient data by the country', () => {
    const cn = { locale: 'zh-CN' } as Institution;
    const us = { locale: 'en-US' } as Institution;
    expect(profileFor(cn, 'druglabel')).toBe('reference-data');
    expect(profileFor(us, 'insurance')).toBe('reference-data');
    for (const source of ['ehr', 'imaging', 'wearable'] as const) {
      expect(profileFor(cn, source)).toBe('gbt-37964');
      expect(profileFor(us, source)).toBe('safe-harbor');
    }
  });
});
