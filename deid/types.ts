import type { FhirResource } from '../mappers/types';
import type { KeyService } from './key-service';

export type { FhirResource };

export type ProfileName = 'safe-harbor' | 'gbt-37964' | 'limited-dataset' | 'reference-data';

/** A residual-PHI or text finding: which rule fired and where. Never the value. */
export interface Finding {
  rule: string;
  path: string;
}

/** A resource that did not reach the output, with the rule and JSON path that stopped it, and a value-free reason. */
export interface QuarantineEntry {
  /** Position of the resource in the input batch. */
  index?: number;
  resourceType: string;
  id?: string;
  rule: string;
  path: string;
  reason: string;
  /** Every residual-PHI finding (rule and path) when the gate sent it here. */
  findings?: Finding[];
}

/** An identifier of a source record, for the residual-PHI gate. `value` is PHI: keep it in memory only. */
export interface SourceIdentifier {
  type: string;
  value: string;
}

export interface KAnonymityReport {
  quasiIdentifiers: string[];
  k: number;
  threshold: number;
  /** Patients assessed. */
  records: number;
  classes: number;
  smallestClass: number;
  recordsBelowThreshold: number;
  suppressed: number;
  /**
   * People the release says nothing of for a quasi-identifier (no birth date and no age Observation, no address):
   * they share the class '?' there, so k is computed as if that quasi-identifier were not released for them.
   */
  unknownQuasiIdentifiers?: Record<string, number>;
}

export interface DeidReport {
  profile: string;
  policyName: string;
  policyVersion: string;
  keyId: string;
  resourcesIn: number;
  resourcesOut: number;
  quarantined: number;
  /** How many elements each rule touched, keyed `<method> <path>`; fail-closed removals are `removed-unlisted <path>`. */
  ruleCounts: Record<string, number>;
  /** Free-text findings per PHI type. */
  textFindings: Record<string, number>;
  risk?: KAnonymityReport;
}

export interface ScrubTextContext {
  keyService: KeyService;
  /** Linkage key of the patient the text is about: surrogates are consistent per patient. */
  linkage?: string;
  /** The record's own identifiers (names, IDs, phones...) from its raw source: always removed wherever they appear. */
  identifiers?: readonly (string | SourceIdentifier)[];
  /** The record's own business identifiers, matched literally (case- and width-insensitive); see literalForms. */
  literalIdentifiers?: readonly string[];
  locale?: 'en' | 'zh';
  /** `surrogate` (default): realistic consistent replacements; `tag`: typed tags like `[NAME]`. */
  mode?: 'surrogate' | 'tag';
  /** PHI types to leave in place (the limited data set keeps dates). */
  keepTypes?: readonly string[];
  /** Days to shift dates by (defaults to the key service's offset for `linkage`, else dates become tags). */
  dateOffsetDays?: number;
  /**
   * Ages above this (default 89) fold into one class, and so does a date that makes its person older: a date more
   * than topAge years before `referenceDate` (default today), once shifted, is written as the class's year alone
   * (`DOB 03/04/1931` → `DOB 1936` in 2026), as a structured birth date is.
   */
  topAge?: number;
  referenceDate?: Date;
}

export interface TextFinding extends Finding {
  /** PHI type, e.g. `name`, `national-id`, `phone`. */
  type: string;
  start: number;
  end: number;
}

export interface ScrubTextResult {
  text: string;
  findings: TextFinding[];
}
