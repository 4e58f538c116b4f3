import type { FhirResource } from '../mappers/types';
import type { KAnonymityReport } from './types';
import { ageOn } from './dates';

/**
 * k-anonymity over quasi-identifiers of a release's Patients: age band (5 years, 90+), sex, region (state or
 * province, ZIP3). The report gives the smallest equivalence class and how many records sit in classes below k;
 * with `suppress`, those records lose their quasi-identifiers (birth date, address) rather than being dropped.
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
      const a = Array.isArray(p.address) ? (p.address[0] as Record<string, unknown> | undefined) : undefined;
      parts.push(a ? `${String(a.state ?? '?')}/${String(a.postalCode ?? '?').slice(0, 3)}` : '?');
    }
  }
  return parts.join('|');
}

/** Assess (and optionally suppress) a release. Mutates suppressed Patients in place. */
export function assessKAnonymity(patients: FhirResource[], options: RiskOptions): KAnonymityReport {
  const on = options.referenceDate ?? new Date();
  const classes = new Map<string, FhirResource[]>();
  for (const p of patients) {
    const key = classKey(p, options.quasiIdentifiers, on);
    const list = classes.get(key);
    if (list) list.push(p);
    else classes.set(key, [p]);
  }
  let smallest = patients.length ? Number.MAX_SAFE_INTEGER : 0;
  let below = 0;
  let suppressed = 0;
  for (const list of classes.values()) {
    smallest = Math.min(smallest, list.length);
    if (list.length < options.k) {
      below += list.length;
      if (options.suppress) {
        for (const p of list) {
          delete p.birthDate;
          delete p.address;
          suppressed++;
        }
      }
    }
  }
  return {
    quasiIdentifiers: options.quasiIdentifiers,
    k: smallest,
    threshold: options.k,
    classes: classes.size,
    smallestClass: smallest,
    recordsBelowThreshold: below,
    suppressed,
  };
}
