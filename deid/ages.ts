/**
 * Ages as FHIR carries them: the Age datatype (Condition.onsetAge, FamilyMemberHistory.ageAge, …) and Observations
 * whose code says the value is the patient's age (LOINC 30525-0 and its reported/estimated/calculated kin). HIPAA
 * Safe Harbor allows an age only up to 89: above it, the one class "90 or older". Shared by the engine, which
 * top-codes, and the residual-PHI gate, which checks that nothing above the top survived.
 */

/** HIPAA Safe Harbor: ages above 89 are one class, 90 or older (a policy's generalize.topAge, and DICOM's). */
export const SAFE_HARBOR_TOP_AGE = 89;

/**
 * The year a date of the top class is written as: a date that makes its person older than topAge on `on` says no
 * more than "born topAge + 1 years before", so a birth date, an old encounter and a date in a note all become it.
 */
export function topClassYear(on: Date, topAge: number): string {
  return String(on.getUTCFullYear() - (topAge + 1)).padStart(4, '0');
}

const LOINC = 'http://loinc.org';
const SNOMED = 'http://snomed.info/sct';
const UCUM = 'http://unitsofmeasure.org';

/**
 * Codes that make an Observation's (or a component's) value the patient's age. LOINC: HL7's
 * LOINCObservationActContextAgeType value set (age, estimated, reported, calculated); SNOMED CT: current chronological
 * age.
 */
const AGE_CODES: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  [LOINC, new Set(['30525-0', '21611-9', '21612-7', '29553-5'])],
  [SNOMED, new Set(['424144002', '397659008'])],
]);

const AGE_CODE_VALUES = [...AGE_CODES.values()].flatMap((set) => [...set]);

/** Whether an NDJSON line can hold an age Observation at all: the cheap test before parsing it. */
export function mayGiveAge(line: string): boolean {
  return line.includes('Observation') && AGE_CODE_VALUES.some((c) => line.includes(c));
}

/** A CodeableConcept that names the patient's age. */
export function isAgeCode(code: unknown): boolean {
  if (!code || typeof code !== 'object') return false;
  const coding = (code as { coding?: unknown }).coding;
  if (!Array.isArray(coding)) return false;
  for (const c of coding) {
    if (!c || typeof c !== 'object') continue;
    const { system, code: value } = c as { system?: unknown; code?: unknown };
    if (typeof system === 'string' && typeof value === 'string' && AGE_CODES.get(system)?.has(value))
      return true;
  }
  return false;
}

/** An element name of FHIR's Age type: a choice ending in Age (onsetAge, abatementAge, ageAge, valueAge…). */
export function isAgeTypedKey(key: string): boolean {
  const n = key.length;
  return (
    n > 3 &&
    key.charCodeAt(n - 3) === 65 && // 'A'
    key.endsWith('Age') &&
    key.charCodeAt(n - 4) >= 97 &&
    key.charCodeAt(n - 4) <= 122
  );
}

/** A value[x] element name (valueQuantity, valueInteger, valueString…). */
export function isValueChoiceKey(key: string): boolean {
  return key.length > 5 && key.startsWith('value') && key.charCodeAt(5) >= 65 && key.charCodeAt(5) <= 90;
}

/** Years per unit, by UCUM code and by the unit words sources write. */
const YEARS_PER_UNIT: ReadonlyMap<string, number> = new Map([
  ['a', 1],
  ['ANN', 1],
  ['y', 1],
  ['yr', 1],
  ['yrs', 1],
  ['year', 1],
  ['years', 1],
  ['岁', 1],
  ['周岁', 1],
  ['年', 1],
  ['mo', 1 / 12],
  ['month', 1 / 12],
  ['months', 1 / 12],
  ['月', 1 / 12],
  ['个月', 1 / 12],
  ['wk', 7 / 365.25],
  ['week', 7 / 365.25],
  ['weeks', 7 / 365.25],
  ['周', 7 / 365.25],
  ['d', 1 / 365.25],
  ['day', 1 / 365.25],
  ['days', 1 / 365.25],
  ['天', 1 / 365.25],
  ['h', 1 / 8766],
  ['min', 1 / 525960],
]);

const AGE_TEXT = /^\s*(\d{1,3}(?:\.\d+)?)\s*([A-Za-z\u4e00-\u9fff]*)\s*$/;

function yearsPer(unit: unknown): number | undefined {
  if (typeof unit !== 'string') return undefined;
  return YEARS_PER_UNIT.get(unit) ?? YEARS_PER_UNIT.get(unit.toLowerCase());
}

/**
 * The age in years that a value says: a Quantity (by its UCUM code, else its unit text), a bare number (years: what
 * an integer age observation holds), or a string such as `93`, `93 years`, `93岁`. Undefined when it cannot tell.
 */
export function ageInYears(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string') {
    const m = AGE_TEXT.exec(value);
    if (!m) return undefined;
    const per = m[2] ? yearsPer(m[2]) : 1;
    return per === undefined ? undefined : Number(m[1]) * per;
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const q = value as { value?: unknown; code?: unknown; system?: unknown; unit?: unknown };
  if (typeof q.value !== 'number' || !Number.isFinite(q.value)) return undefined;
  const per =
    (q.system === UCUM || q.system === undefined ? yearsPer(q.code) : undefined) ?? yearsPer(q.unit);
  return per === undefined ? undefined : q.value * per;
}

/** The "90 or older" class as each value form writes it, for a top of 89. */
function topClass(value: unknown, topAge: number): unknown {
  const top = topAge + 1;
  if (typeof value === 'number') return top;
  if (typeof value === 'string') return /[\u4e00-\u9fff]/.test(value) ? `${top}岁以上` : `${top}+`;
  return { value: top, comparator: '>=', unit: 'a', system: UCUM, code: 'a' };
}

/**
 * Top-code an age: above topAge it becomes the one class topAge + 1 or older (a Quantity keeps the form with
 * comparator >=); at or below it the value is returned unchanged. Undefined when the value is not a readable age:
 * the caller removes it (an age that cannot be read cannot be shown to be 89 or under).
 */
export function topCodeAge(value: unknown, topAge: number): unknown {
  const years = ageInYears(value);
  if (years === undefined) return undefined;
  return years > topAge ? topClass(value, topAge) : value;
}

/** An age that says more than the top class allows (a top-coded value passes). */
export function isAgeOverTop(value: unknown, topAge: number): boolean {
  const years = ageInYears(value);
  if (years === undefined || years <= topAge) return false;
  const top = topAge + 1;
  // A bare number or a plain string cannot say "or older": the class's own number stands for it.
  if (typeof value === 'number' || typeof value === 'string') return years !== top;
  const q = value as { comparator?: unknown };
  return !(years === top && q.comparator === '>=');
}

/** The parts of an Observation coded as the subject's age: itself and its components; none for another resource. */
function ageCodedParts(resource: Record<string, unknown>): Record<string, unknown>[] {
  if (resource.resourceType !== 'Observation') return [];
  const parts = [resource, ...(Array.isArray(resource.component) ? resource.component : [])];
  return parts.filter(
    (p): p is Record<string, unknown> =>
      !!p && typeof p === 'object' && isAgeCode((p as { code?: unknown }).code),
  );
}

/**
 * The ages an Observation gives for its subject (its value and its components', where coded as age), in years;
 * empty for any other resource. What k-anonymity counts when a release has no birth date.
 */
export function agesGivenBy(resource: Record<string, unknown>): number[] {
  const out: number[] = [];
  for (const part of ageCodedParts(resource))
    for (const k in part) {
      if (!isValueChoiceKey(k)) continue;
      const years = ageInYears(part[k]);
      if (years !== undefined) out.push(years);
    }
  return out;
}

/** Suppression of a person in a class below k: their age Observations keep the code and lose the value. */
export function suppressAgeValues(resource: Record<string, unknown>): void {
  for (const part of ageCodedParts(resource)) {
    const values = Object.keys(part).filter(isValueChoiceKey);
    if (!values.length) continue;
    for (const k of values) delete part[k];
    part.dataAbsentReason = {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code: 'masked' }],
    };
  }
}

const AS_YEARS_PER_UNIT = { D: 1 / 365.25, W: 7 / 365.25, M: 1 / 12, Y: 1 } as const;

/**
 * A DICOM Age String (VR AS: three digits and D, W, M or Y; 093Y, 018M) in years, or undefined when the value is not
 * one. Its M is months, where UCUM's m is metres: it has a reader of its own.
 */
export function dicomAgeInYears(value: string): number | undefined {
  const m = /^(\d{3})([DWMY])$/.exec(value.trim());
  return m ? Number(m[1]) * AS_YEARS_PER_UNIT[m[2] as keyof typeof AS_YEARS_PER_UNIT] : undefined;
}
