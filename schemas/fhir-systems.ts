/**
 * Code systems Tributary mints where no standard one exists, shared by the mappers that write them and the
 * de-identification policies that read them (both may import schemas, not each other).
 */

/** The kind of a document whose source gives it no LOINC type (an NMPA 药品说明书 has none). */
export const DOCUMENT_KIND_SYSTEM = 'urn:tributary:document-kind';
/** A product label (drug, biologic, device): its text describes a product and names no patient. */
export const DRUG_LABEL_KIND = 'drug-label';
