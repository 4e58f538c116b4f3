import type { FhirResource } from '../mappers/types';
import type { KAnonymityReport } from './types';
import { ageOn } from './dates';

/**
 * k-anonymity over quasi-identifiers of a release's Patients: age band (5 years, 90+), sex, region (what the output
 * keeps of the address: state or province, city where kept, ZIP3). The report gives the smallest equivalence class
 * and how many records sit in classes below k; with `suppress`, those records lose their quasi-identifiers (birth
 * date, address) rather than being dropped.
 */
export type QuasiIdentifier = 'age-band' | 'sex' | 'region';

export interface RiskOptions {
  k: number;
  quasiIdentifiers: QuasiIdentifier[];
  suppress: boolean;
  referenceDate?: Date;
}

function classKey(p: FhirResource, qis: QuasiIdentifier[], on: Date): string {
  const parts: string[] = [];
  for (const q of qis) {
    if (q === 'sex') parts.push(typeof p.gender === 'string' ? p.gender : '?');
    else if (q === 'age-band') {
      const age = typeof p.birthDate === 'string' ? ageOn(p.birthDate, on) : undefined;
      parts.push(age === undefined ? '?' : age >= 90 ? '90+' : String(Math.floor(age / 5) * 5));
    } else {
      // The region is whatever the output still says of where the Patient lives: state and ZIP3 under Safe Harbor,
      // also the city under GB/T 37964 and the limited data set. A class that ignored a kept city would count
      // people of different cities as alike and report a k the release does not have.
      const a = Array.isArray(p.address) ? (p.address[0] as Record<string, unknown> | undefined) : undefined;
      parts.push(
        a
          ? [a.country ?? '', a.state ?? '?', a.city ?? '', String(a.postalCode ?? '?').slice(0, 3)]
              .map(String)
              .join('/')
          : '?',
      );
    }
  }
  return parts.join('|');
}

/**
 * k-anonymity over a release seen one Patient at a time: only each class's size is kept, so a release of any size
 * can be assessed while it is written (tributary deid fhir streams its files). `add` returns the Patient's class,
 * for suppression once every Patient has been counted.
 */
export interface RiskTally {
  add(patient: FhirResource): string;
  /** Whether a class (as `add` returned it) is smaller than k: its Patients are the ones to suppress. */
  isBelowThreshold(classKey: string): boolean;
  report(suppressed: number): KAnonymityReport;
}

export function createRiskTally(options: Omit<RiskOptions, 'suppress'>): RiskTally {
  const on = options.referenceDate ?? new Date();
  const sizes = new Map<string, number>();
  let patients = 0;
  return {
    add(patient) {
      const key = classKey(patient, options.quasiIdentifiers, on);
      sizes.set(key, (sizes.get(key) ?? 0) + 1);
      patients++;
      return key;
    },
    isBelowThreshold(key) {
      return (sizes.get(key) ?? 0) < options.k;
    },
    report(suppressed) {
      let smallest = patients ? Number.MAX_SAFE_INTEGER : 0;
      let below = 0;
      for (const size of sizes.values()) {
        smallest = Math.min(smallest, size);
        if (size < options.k) below += size;
      }
      return {
        quasiIdentifiers: options.quasiIdentifiers,
        k: smallest,
        threshold: options.k,
        records: patients,
        classes: sizes.size,
        smallestClass: smallest,
        recordsBelowThreshold: below,
        suppressed,
      };
    },
  };
}

/** What suppression removes from a Patient in a class below k: its quasi-identifiers, not the record. */
export function suppressQuasiIdentifiers(patient: FhirResource): void {
  delete patient.birthDate;
  delete patient.address;
}

/** Assess (and optionally suppress) a release. Mutates suppressed Patients in place. */
export function assessKAnonymity(patients: FhirResource[], options: RiskOptions): KAnonymityReport {
  const tally = createRiskTally(options);
  const keys = patients.map((p) => tally.add(p));
  let suppressed = 0;
  if (options.suppress) {
    for (let i = 0; i < patients.length; i++) {
      if (!tally.isBelowThreshold(keys[i])) continue;
      suppressQuasiIdentifiers(patients[i]);
      suppressed++;
    }
  }
  return tally.report(suppressed);
}
