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

/** What the release says of one person, by quasi-identifier ('?' when it says nothing). */
interface Member {
  sex: string;
  /** Age in years from the birth date, on the reference date. */
  birthAge?: number;
  region: string;
}

function quasiIdentifiersOf(p: FhirResource, on: Date): Member {
  // The region is whatever the output still says of where the Patient lives: state and ZIP3 under Safe Harbor, also
  // the city under GB/T 37964 and the limited data set. A class that ignored a kept city would count people of
  // different cities as alike and report a k the release does not have.
  const a = Array.isArray(p.address) ? (p.address[0] as Record<string, unknown> | undefined) : undefined;
  return {
    sex: typeof p.gender === 'string' ? p.gender : '?',
    birthAge: typeof p.birthDate === 'string' ? ageOn(p.birthDate, on) : undefined,
    region: a
      ? [a.country ?? '', a.state ?? '?', a.city ?? '', String(a.postalCode ?? '?').slice(0, 3)]
          .map(String)
          .join('/')
      : '?',
  };
}

const ageBand = (age: number | undefined) =>
  age === undefined ? '?' : age >= 90 ? '90+' : String(Math.floor(age / 5) * 5);

/**
 * k-anonymity over a release seen one resource at a time: only each person's quasi-identifiers are kept, so a
 * release of any size can be assessed while it is written (tributary deid fhir streams its files). A person's age
 * comes from the Patient's birth date or, when the release has none (a check-up export gives the age on the day, not
 * a birth date), from the Observations coded as their age (`addAge`, as published: 90 or older when top-coded); a
 * class without it would count every age as alike and report a k the release does not have. Classes are formed
 * once everything is counted: `add` returns the person's key, for `isBelowThreshold` at the end.
 */
export interface RiskTally {
  /** Count a Patient; `member` names the person when one person may have several Patients (default: its reference). */
  add(patient: FhirResource, member?: string): string;
  /** An age (years) the release gives for a person: their member key, or their Patient's reference. */
  addAge(member: string, years: number): void;
  /** Whether a person (as `add` returned them) is in a class smaller than k: the ones to suppress. */
  isBelowThreshold(member: string): boolean;
  report(suppressed: number): KAnonymityReport;
}

export function createRiskTally(options: Omit<RiskOptions, 'suppress'>): RiskTally {
  const on = options.referenceDate ?? new Date();
  const members = new Map<string, Member>();
  const observedAges = new Map<string, number>();
  let classes:
    { of: Map<string, string>; sizes: Map<string, number>; unknown: Record<string, number> } | undefined;
  const classify = () => {
    if (classes) return classes;
    const of = new Map<string, string>();
    const sizes = new Map<string, number>();
    const unknown: Record<string, number> = {};
    for (const [key, m] of members) {
      const parts = options.quasiIdentifiers.map((q) =>
        q === 'sex' ? m.sex : q === 'region' ? m.region : ageBand(m.birthAge ?? observedAges.get(key)),
      );
      parts.forEach((v, i) => {
        if (v === '?') unknown[options.quasiIdentifiers[i]] = (unknown[options.quasiIdentifiers[i]] ?? 0) + 1;
      });
      const c = parts.join('|');
      of.set(key, c);
      sizes.set(c, (sizes.get(c) ?? 0) + 1);
    }
    return (classes = { of, sizes, unknown });
  };
  return {
    add(patient, member) {
      const key = member ?? (typeof patient.id === 'string' ? `Patient/${patient.id}` : `#${members.size}`);
      members.set(key, quasiIdentifiersOf(patient, on));
      classes = undefined;
      return key;
    },
    addAge(member, years) {
      // The oldest age a person is given: the one that puts them in the smallest classes (90 or older).
      observedAges.set(member, Math.max(observedAges.get(member) ?? -1, years));
      classes = undefined;
    },
    isBelowThreshold(member) {
      const c = classify();
      const key = c.of.get(member);
      return key !== undefined && (c.sizes.get(key) ?? 0) < options.k;
    },
    report(suppressed) {
      const { sizes, unknown } = classify();
      let smallest = members.size ? Number.MAX_SAFE_INTEGER : 0;
      let below = 0;
      for (const size of sizes.values()) {
        smallest = Math.min(smallest, size);
        if (size < options.k) below += size;
      }
      return {
        quasiIdentifiers: options.quasiIdentifiers,
        k: smallest,
        threshold: options.k,
        records: members.size,
        classes: sizes.size,
        smallestClass: smallest,
        recordsBelowThreshold: below,
        suppressed,
        ...(Object.keys(unknown).length ? { unknownQuasiIdentifiers: unknown } : {}),
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
  const keys = patients.map((p, i) => tally.add(p, `#${i}`));
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
