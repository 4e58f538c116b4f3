import { describe, expect, it } from 'vitest';
import { validateFhirResource } from './validate';

describe('validateFhirResource', () => {
  it('accepts a valid Patient', () => {
    expect(
      validateFhirResource({ resourceType: 'Patient', id: 'a', gender: 'female', name: [{ family: 'X' }] }),
    ).toEqual([]);
  });
  it('rejects a missing required element with its path', () => {
    const issues = validateFhirResource({ resourceType: 'Observation', code: { text: 'x' } });
    expect(issues.some((i) => i.expression?.[0] === 'Observation.status')).toBe(true);
  });
  it('rejects an unknown property', () => {
    expect(validateFhirResource({ resourceType: 'Patient', foo: 1 }).length).toBeGreaterThan(0);
  });
  it('checks required value-set bindings medplum leaves out, including nested ones', () => {
    expect(validateFhirResource({ resourceType: 'Patient', gender: 'xx' })).toEqual([
      expect.objectContaining({ code: 'value', expression: ['Patient.gender'] }),
    ]);
    const obs = {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'x' },
      valueQuantity: { value: 1 },
      referenceRange: [{ low: { value: 1, comparator: '~' } }],
    };
    const issues = validateFhirResource(obs);
    expect(issues.map((i) => i.expression?.[0])).toContain('Observation.referenceRange[0].low.comparator');
  });
  it('rejects wrong primitive types', () => {
    expect(validateFhirResource({ resourceType: 'Patient', active: 'yes' }).length).toBeGreaterThan(0);
  });
  it('rejects unknown resource types', () => {
    expect(validateFhirResource({ resourceType: 'Nope' })[0].expression).toEqual(['resourceType']);
  });
});
