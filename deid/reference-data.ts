/**
 * What a reference-data policy (drug labels, formularies, payer catalogs) may de-identify: descriptions of products
 * and plans. It keeps their text as written, so it must refuse anything about a person: a source mislabelled as
 * reference data would otherwise publish patient text unscrubbed.
 */
import type { FhirResource } from '../mappers/types';
import { DOCUMENT_KIND_SYSTEM, DRUG_LABEL_KIND } from '../schemas/fhir-systems';
import { decodeTextAttachment } from './residual-phi';
import { detectPhi } from './text-scrubber';

/**
 * The LOINC types of a product label: the label and indexing codes of FDA's SPL document types (the SPLDocumentCodes
 * value set of HL7's FHIR SPL guide). A note, a report or a summary about a patient has a type of its own (34117-2,
 * 11506-3, 18842-5, ...), so a DocumentReference is taken as a label by its type, not by having no subject: a feed of
 * notes mislabelled as drug labels would otherwise publish its notes as written.
 */
const LABEL_DOCUMENT_TYPES: ReadonlySet<string> = new Set(
  [
    // human and animal drug labels
    '34390-5 34391-3 45129-4 75031-5 78744-0 53409-9 50577-6 50578-4 50571-9 50572-7',
    '50573-5 50574-3 50575-0 50576-8 77647-6 81203-2 104091-4 101437-2 78745-7 86448-8',
    // biologics, devices, foods, supplements, cosmetics
    '53404-0 53405-7 53406-5 53407-3 53408-1 60682-2 60683-0 60684-8 98075-5 69403-4',
    '69404-2 55439-4 58474-8 58475-5 58476-3',
    // indexing documents (pharmacologic class, indication, substance, billing unit, product concept, interactions)
    '60685-5 63417-0 64124-1 77648-4 71446-9 73815-3 93723-5 93372-1',
  ]
    .join(' ')
    .split(' '),
);

/**
 * Detectors whose finding makes a text a record about someone: a national ID, a record number named as one. A label
 * names companies, addresses, phone numbers and dates of its own, so those are no sign.
 */
const PERSON_SIGNAL_RULES: ReadonlySet<string> = new Set([
  'text.us-ssn',
  'text.ssn-context',
  'text.cn-resident-id',
  'text.mrn-context',
  'text.record-number-acronym',
]);

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
  // a plan as a list of its drugs (Da Vinci formulary STU1 CoveragePlan), taken only when every entry is a product
  'List',
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
  rule: 'reference-data.not-a-description' | 'reference-data.about-a-person' | 'reference-data.not-a-label';
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

const notALabel = (path: string): ReferenceDataRefusal => ({
  rule: 'reference-data.not-a-label',
  path,
  reason:
    'a reference-data policy keeps a document as written only when its type names a product label (an SPL document type, or urn:tributary:document-kind drug-label); this type is missing or names another kind of document',
});

function isLabelType(type: unknown): boolean {
  const codings = (type as { coding?: unknown } | undefined)?.coding;
  if (!Array.isArray(codings)) return false;
  return codings.some((c: { system?: unknown; code?: unknown } | null) =>
    c?.system === 'http://loinc.org'
      ? LABEL_DOCUMENT_TYPES.has(c.code as string)
      : c?.system === DOCUMENT_KIND_SYSTEM && c.code === DRUG_LABEL_KIND,
  );
}

/**
 * Why a label's own text cannot be kept: an attachment whose words cannot be read (not text/*), or a text that reads
 * as a record about someone (the detector that says so is named, never the words).
 */
function refuseLabelText(doc: FhirResource): ReferenceDataRefusal | undefined {
  const texts: [string, string][] = [];
  if (typeof doc.description === 'string') texts.push(['DocumentReference.description', doc.description]);
  const content = Array.isArray(doc.content)
    ? (doc.content as { attachment?: Record<string, unknown> }[])
    : [];
  for (let i = 0; i < content.length; i++) {
    const a = content[i]?.attachment;
    if (!a) continue;
    const at = `DocumentReference.content[${i}].attachment`;
    if (typeof a.title === 'string') texts.push([`${at}.title`, a.title]);
    if (a.data === undefined) continue;
    const text = decodeTextAttachment(a);
    if (text === undefined)
      return {
        rule: 'reference-data.not-a-description',
        path: `${at}.data`,
        reason:
          'a reference-data policy keeps text as written: it takes text attachments only (contentType text/*), whose words can be checked',
      };
    texts.push([`${at}.data`, text]);
  }
  for (const [path, text] of texts) {
    const hit = detectPhi(text).find((s) => PERSON_SIGNAL_RULES.has(s.rule));
    if (hit)
      return {
        ...aboutAPerson(path),
        reason: `a reference-data policy keeps text as written: this text reads as a record about a person (${hit.rule})`,
      };
  }
  return undefined;
}

/**
 * A List is a plan's drugs (a Da Vinci STU1 CoveragePlan) only when it has entries and each names a product or plan;
 * a List is as often a person's problems, medications or encounters.
 */
function refuseList(list: FhirResource): ReferenceDataRefusal | undefined {
  const entries = Array.isArray(list.entry) ? (list.entry as { item?: unknown }[]) : [];
  if (entries.length === 0) return listOfWhat('List.entry');
  for (let i = 0; i < entries.length; i++)
    if (!isProductReference(entries[i]?.item)) return listOfWhat(`List.entry[${i}].item`);
  return undefined;
}

const listOfWhat = (path: string): ReferenceDataRefusal => ({
  rule: 'reference-data.not-a-description',
  path,
  reason:
    'a reference-data policy takes a List only as a plan of products (every entry a Medication, MedicationKnowledge, InsurancePlan or other product or plan description)',
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
  if (path) return aboutAPerson(path);
  if (type === 'List') return refuseList(resource);
  if (type === 'DocumentReference') {
    if (!isLabelType(resource.type)) return notALabel('DocumentReference.type');
    return refuseLabelText(resource);
  }
  return undefined;
}
