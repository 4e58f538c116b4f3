import { hash } from 'node:crypto';

/**
 * Stable resource ids: derived from what the record is (institution + natural key or input position), so re-running a
 * mapping rewrites the same ids. Patient ids never carry the MRN in clear.
 */
export function stableId(...parts: (string | number)[]): string {
  return stableIdOfKey(parts.join('|'));
}

/** stableId of parts already joined with '|' (callers that make many ids build the key without an array). */
export function stableIdOfKey(key: string): string {
  // One-shot hash: createHash().update().digest() builds a Hash object per id, a visible cost at millions of ids.
  return hash('sha256', key, 'hex').slice(0, 16);
}

/** The Patient id every source of one institution uses for the same MRN: first 16 hex of sha256(institution|mrn). */
export function patientStableId(institution: string, mrn: string): string {
  return stableId(institution, mrn.trim());
}

export function mrnSystem(institution: string): string {
  return `urn:tributary:${institution}:mrn`;
}

export const SSN_SYSTEM = 'urn:oid:2.16.840.1.113883.4.1';
export const CN_RESIDENT_ID_SYSTEM = 'urn:tributary:cn-resident-id';
