import { describe, expect, it } from 'vitest';
import type { GroundTruth } from '../schemas/ground-truth';
import { findPlanted, plantedPattern } from './find-planted';

const truth = {
  planted: [
    {
      value: '4417263',
      type: 'mrn',
      institution: 'pinecrest-regional',
      source: 'ehr',
      file: 'x',
      record: 'r1',
      path: 'MRN',
    },
    {
      value: '94122',
      type: 'postal-code',
      institution: 'pinecrest-regional',
      source: 'ehr',
      file: 'x',
      record: 'r1',
      path: 'ZIP',
    },
    { value: 'Ann', type: 'name', institution: 'i', source: 'ehr', file: 'x', record: 'r1', path: 'given' },
  ],
} as unknown as GroundTruth;

describe('plantedPattern', () => {
  it('finds a value as PHI is written, not inside longer digit runs or short values inside tokens', () => {
    expect(plantedPattern('94122').test('"postalCode":"94122"')).toBe(true);
    expect(plantedPattern('94122').test('ZIP 94122-1234')).toBe(true);
    expect(plantedPattern('94122').test('id 5e9412207')).toBe(false);
    expect(plantedPattern('94122').test('a94122b')).toBe(false);
    expect(plantedPattern('4417263').test('MRN: 4417263.')).toBe(true);
    expect(plantedPattern('4417263').test('44172630')).toBe(false);
    // A long value bounded by letters is still a match: the message below says whether it sat in a hex token.
    expect(plantedPattern('4417263').test('c9f4417263ab')).toBe(true);
  });
});

describe('findPlanted', () => {
  it('says which planted value and where it sits, never the value', () => {
    const text = [
      '{"resourceType":"Patient","id":"p1","identifier":[{"value":"4417263"}]}',
      '{"resourceType":"Condition","id":"c9f4417263ab01de","code":{"text":"x"}}',
    ].join('\n');
    const hits = findPlanted(text, truth);
    expect(hits).toEqual([
      'mrn at pinecrest-regional/ehr MRN: found in Patient.value, inside a number of 7 digits',
    ]);
    expect(findPlanted(text.split('\n')[1], truth)).toEqual([
      'mrn at pinecrest-regional/ehr MRN: found in Condition.id, inside a hex token of 16',
    ]);
    for (const h of [...hits, ...findPlanted(text.split('\n')[1], truth)]) expect(h).not.toContain('4417263');
  });

  it('skips values under 4 characters and the types asked for', () => {
    const text = '{"resourceType":"Patient","name":[{"given":["Ann"]}],"address":[{"postalCode":"94122"}]}';
    expect(findPlanted(text, truth)).toEqual([
      'postal-code at pinecrest-regional/ehr ZIP: found in Patient.postalCode, inside a number of 5 digits',
    ]);
    expect(findPlanted(text, truth, { skipTypes: ['postal-code'] })).toEqual([]);
  });
});
