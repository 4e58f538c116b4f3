/**
 * Da Vinci PDex US Drug Formulary (STU2 Bundle of InsurancePlan + Basic FormularyItem + MedicationKnowledge, single
 * resources, NDJSON; STU1 List CoveragePlan examples too) -> the same resources normalized through the FHIR normalizer
 * (stable ids, references, code systems). One resource (Bundle entry) is one record.
 */
import type { MapContext, MapResult } from '../types';
import { mapFhir } from '../ehr/fhir-normalize';

export function mapPdexFormulary(bytes: Buffer, ctx: MapContext): MapResult {
  return mapFhir(bytes, ctx);
}
