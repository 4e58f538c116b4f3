/**
 * One drug label -> DocumentReference (the label's sections kept as text, one attachment per section) + per product a
 * Medication (identifiers: NDC, set id, 国药准字) and a MedicationKnowledge (code, dose form, ingredients, monograph
 * pointing at the label). Shared by SPL XML, openFDA JSON and Chinese label text.
 */
import { DOCUMENT_KIND_SYSTEM, DRUG_LABEL_KIND } from '../../schemas/fhir-systems';
import { stableId } from '../ids';
import type { FhirResource } from '../types';

type Json = Record<string, unknown>;

export const NDC = 'http://hl7.org/fhir/sid/ndc';
export const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
export const UNII = 'http://fdasis.nlm.nih.gov';
export const SPL_SET_ID = 'urn:tributary:spl-set-id';
export const NMPA_APPROVAL = 'urn:tributary:cn-nmpa-approval-number';

export interface LabelSection {
  code?: string;
  title: string;
  text: string;
}

export interface LabelProduct {
  codings: Json[];
  name?: string;
  doseForm?: string;
  identifiers: Json[];
  ingredients: { name: string; codings: Json[]; active: boolean; strength?: Json }[];
  manufacturer?: string;
  route?: string;
  synonyms?: string[];
}

export interface Label {
  institution: string;
  /** Natural key of the label: set id + version, approval number, ... */
  key: string;
  /**
   * The document type: LOINC (34391-3 prescription, 34390-5 OTC, ...) when the source gives one. Without it the label
   * is typed with Tributary's document kind `drug-label`.
   */
  docType?: { system?: string; code: string; display?: string };
  title?: string;
  /** FHIR instant of the label's effective time, when known. */
  date?: string;
  language?: string;
  sections: LabelSection[];
  products: LabelProduct[];
  masterIdentifier?: Json;
}

export function labelResources(label: Label): FhirResource[] {
  const docId = stableId(label.institution, 'label', label.key);
  const doc: FhirResource = {
    resourceType: 'DocumentReference',
    id: docId,
    status: 'current',
    content: label.sections.map((s) => ({
      attachment: {
        contentType: 'text/plain; charset=utf-8',
        ...(label.language ? { language: label.language } : {}),
        title: s.code ? `${s.title} (LOINC ${s.code})` : s.title,
        // FHIR has no empty strings: a section without text is its title alone.
        ...(s.text ? { data: Buffer.from(s.text, 'utf8').toString('base64') } : {}),
      },
    })),
  };
  if (label.masterIdentifier) doc.masterIdentifier = label.masterIdentifier;
  // Every label is typed: a source that states no LOINC type (openFDA without product_type, an NMPA label) gets the
  // document kind, so that reference-data de-identification can tell a label from a note.
  const docType = label.docType ?? {
    system: DOCUMENT_KIND_SYSTEM,
    code: DRUG_LABEL_KIND,
    display: 'drug label',
  };
  doc.type = {
    coding: [
      {
        system: docType.system ?? 'http://loinc.org',
        code: docType.code,
        ...(docType.display ? { display: docType.display } : {}),
      },
    ],
  };
  if (label.title) doc.description = label.title.slice(0, 1000);
  if (label.date) doc.date = label.date;
  if (doc.content && (doc.content as unknown[]).length === 0)
    doc.content = [
      { attachment: { contentType: 'text/plain; charset=utf-8', title: 'label without sections' } },
    ];
  const out: FhirResource[] = [doc];
  label.products.forEach((p, i) => {
    const medId = stableId(label.institution, 'label-medication', label.key, i);
    const code = { ...(p.codings.length ? { coding: p.codings } : {}), ...(p.name ? { text: p.name } : {}) };
    const med: FhirResource = { resourceType: 'Medication', id: medId, status: 'active', code };
    if (p.identifiers.length) med.identifier = p.identifiers;
    if (p.doseForm) med.form = { text: p.doseForm };
    if (p.manufacturer) med.manufacturer = { display: p.manufacturer };
    const mk: FhirResource = {
      resourceType: 'MedicationKnowledge',
      id: stableId(label.institution, 'label-knowledge', label.key, i),
      status: 'active',
      code,
      associatedMedication: [{ reference: `Medication/${medId}` }],
      monograph: [{ type: { text: 'drug label' }, source: { reference: `DocumentReference/${docId}` } }],
    };
    if (p.doseForm) mk.doseForm = { text: p.doseForm };
    if (p.manufacturer) mk.manufacturer = { display: p.manufacturer };
    if (p.synonyms?.length) mk.synonym = p.synonyms;
    if (p.route) mk.intendedRoute = [{ text: p.route }];
    if (p.ingredients.length) {
      mk.ingredient = p.ingredients.map((ing) => ({
        itemCodeableConcept: { ...(ing.codings.length ? { coding: ing.codings } : {}), text: ing.name },
        isActive: ing.active,
        ...(ing.strength ? { strength: ing.strength } : {}),
      }));
    }
    out.push(med, mk);
  });
  return out;
}
