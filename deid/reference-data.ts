/**
 * What a reference-data policy (drug labels, formularies, payer catalogs) may de-identify: descriptions of products
 * and plans. It keeps their text as written, so it must refuse anything about a person: a source mislabelled as
 * reference data would otherwise publish patient text unscrubbed.
 */
import type { FhirResource } from '../mappers/types';

/** The resource types the drug-label and insurance mappers write, and what they point at. */
const PRODUCT_AND_PLAN_TYPES: ReadonlySet<string> = new Set([
  'Medication',
  'MedicationKnowledge',
  'InsurancePlan',
  'Basic',
  'DocumentReference',
  'Organization',
  'Substance',
  'Location',
  'GraphDefinition',
]);

/** Elements that name a person or their care whatever they hold. */
const PERSON_ELEMENTS = ['patient', 'beneficiary', 'subscriber', 'policyHolder', 'encounter'] as const;

/** Reference targets that are people or their care. */
const PERSON_TYPES: ReadonlySet<string> = new Set([
  'Patient',
  'RelatedPerson',
  'Person',
  'Group',
  'Encounter',
  'EpisodeOfCare',
]);

/**
 * The resource type a reference names: literal (relative or absolute, with or without a version) or conditional
 * (`Patient?identifier=…`, as Synthea's Bulk exports write them).
 */
function targetTypeOf(ref: string): string | undefined {
  return /(?:^|\/)([A-Z][A-Za-z]+)(?:\/[^/?]+|\?.*)$/.exec(ref.split('/_history')[0])?.[1];
}

function referenceToPerson(node: unknown, path: string, depth: number): string | undefined {
  if (depth > 48 || !node || typeof node !== 'object') return undefined;
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const found = referenceToPerson(node[i], `${path}[${i}]`, depth + 1);
      if (found) return found;
    }
    return undefined;
  }
  for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
    if (k === 'reference' && typeof v === 'string' && PERSON_TYPES.has(targetTypeOf(v) ?? ''))
      return `${path}.reference`;
    // text attachments hold no references; skip their base64 without reading it
    if (k === 'data' && typeof v === 'string') continue;
    const found = referenceToPerson(v, `${path}.${k}`, depth + 1);
    if (found) return found;
  }
  return undefined;
}

function isProductReference(value: unknown): boolean {
  const ref = (value as { reference?: unknown } | undefined)?.reference;
  return typeof ref === 'string' && PRODUCT_AND_PLAN_TYPES.has(targetTypeOf(ref) ?? '');
}

/** Why a reference-data policy refuses a resource: a quarantine rule, the element path (never a value), a reason. */
export interface ReferenceDataRefusal {
  rule: 'reference-data.not-a-description' | 'reference-data.about-a-person';
  path: string;
  reason: string;
}

const notADescription = (path: string): ReferenceDataRefusal => ({
  rule: 'reference-data.not-a-description',
  path,
  reason:
    'a reference-data policy keeps text as written: it takes only product and plan descriptions (drug labels, formularies, catalogs), not this resource type',
});
const aboutAPerson = (path: string): ReferenceDataRefusal => ({
  rule: 'reference-data.about-a-person',
  path,
  reason: 'a reference-data policy keeps text as written: it takes no record about or pointing at a person',
});

/** Why a resource is not a product or plan description, or undefined when it is one. */
export function refuseAsReferenceData(resource: FhirResource): ReferenceDataRefusal | undefined {
  const type = resource.resourceType;
  if (!PRODUCT_AND_PLAN_TYPES.has(type)) return notADescription(type);
  for (const e of PERSON_ELEMENTS) if (resource[e] !== undefined) return aboutAPerson(`${type}.${e}`);
  // A formulary item's subject is the drug (Basic.subject → MedicationKnowledge); any other subject may be someone.
  if (resource.subject !== undefined && !isProductReference(resource.subject))
    return aboutAPerson(`${type}.subject`);
  const path = referenceToPerson(resource, type, 0);
  return path ? aboutAPerson(path) : undefined;
}
