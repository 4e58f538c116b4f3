/**
 * Code systems whose displays are a terminology's text rather than something written at the source: the published
 * terminologies (by their URL or their arc of HL7's OID registry), FHIR's and HL7's own namespaces, and the standards
 * bodies' URNs. Anything else is local: an institution's own codes (the mappers write `urn:tributary:<id>:codes:...`,
 * a hospital its own URL), a coding with no system, an OID outside HL7's terminology arc. Its display was typed by
 * someone at the source, and is free text.
 */
const TERMINOLOGY_PREFIXES = [
  'http://loinc.org',
  'http://snomed.info/',
  'http://www.nlm.nih.gov/research/umls/',
  'http://hl7.org/fhir/',
  'https://hl7.org/fhir/',
  'http://terminology.hl7.org/',
  'http://unitsofmeasure.org',
  'http://www.ama-assn.org/go/cpt',
  'http://www.whocc.no/atc',
  'http://id.who.int/icd/',
  'http://ncimeta.nci.nih.gov',
  'http://nucc.org/provider-taxonomy',
  'http://www.nubc.org/',
  'https://www.nubc.org/',
  'https://bluebutton.cms.gov/resources/',
  'http://www.cms.gov/',
  'https://www.cms.gov/',
  'http://ihe.net/',
  'http://dicom.nema.org/resources/ontology/',
  'http://fdasis.nlm.nih.gov',
  'http://www.fda.gov/',
  'http://developer.apple.com/documentation/healthkit',
  'http://www.genenames.org',
  'http://varnomen.hgvs.org',
  'http://www.ncbi.nlm.nih.gov/',
  'https://www.ncbi.nlm.nih.gov/',
  // HL7's registry of external terminologies (6: LOINC, SNOMED, RxNorm, CDC race, ICD...) and its own tables (5, 12).
  'urn:oid:2.16.840.1.113883.6.',
  'urn:oid:2.16.840.1.113883.5.',
  'urn:oid:2.16.840.1.113883.12.',
  'urn:ietf:bcp:',
  'urn:iso:std:',
  // ICD-10 as China's national edition (the mappers' name for it).
  'urn:tributary:icd-10-cn',
];

/** A prefix that ends a name (`http://loinc.org`) answers for itself and its paths only, not `http://loinc.org.x`. */
const PREFIXES = TERMINOLOGY_PREFIXES.map((prefix) => ({ prefix, open: /[/.:]$/.test(prefix) }));

/** Whether a Coding's system is a published terminology, whose displays are kept as the terminology writes them. */
export function isTerminologySystem(system: unknown): boolean {
  if (typeof system !== 'string') return false;
  for (const { prefix, open } of PREFIXES)
    if (
      system.startsWith(prefix) &&
      (open || system.length === prefix.length || system.charCodeAt(prefix.length) === 47) // '/'
    )
      return true;
  return false;
}
