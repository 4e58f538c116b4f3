import { describe, expect, it } from 'vitest';
import { isTerminologySystem } from './terminology';

describe('isTerminologySystem', () => {
  it('knows published terminologies by URL or HL7 OID, and nothing an institution writes itself', () => {
    for (const s of [
      'http://loinc.org',
      'http://snomed.info/sct',
      'http://www.nlm.nih.gov/research/umls/rxnorm',
      'http://terminology.hl7.org/CodeSystem/v2-0203',
      'http://hl7.org/fhir/sid/cvx',
      'urn:oid:2.16.840.1.113883.6.238',
      'urn:ietf:bcp:47',
      'urn:tributary:icd-10-cn',
    ])
      expect(isTerminologySystem(s), s).toBe(true);
    for (const s of [
      undefined,
      '',
      'urn:tributary:inst-a:codes:L',
      'urn:tributary:icd-10-cnx',
      'http://loinc.org.evil.example',
      'http://loinc.orgs',
      'https://hospital.example.org/fhir/CodeSystem/local-labs',
      'urn:oid:1.2.840.114350.1.13.0.1.7.2.696580',
    ])
      expect(isTerminologySystem(s), String(s)).toBe(false);
  });
});
