import type { FhirResource } from '../mappers/types';
import type { Finding, SourceIdentifier } from './types';
import {
  foldWidth,
  isLuhnValid,
  isValidResidentId,
  normalizeForMatch,
  readsAsVin,
  US_MBI_SHAPE,
} from './identifiers';
import { FHIR_DATE_RE, NEVER_DATE_KEYS, addDays, fhirDatePrecision, isOlderThan } from './dates';
import { isAgeCode, isAgeOverTop, isAgeTypedKey, isValueChoiceKey } from './ages';
import { followedByEponymWord } from './dictionaries';
import {
  identifierMatches,
  matchKey,
  mayContainIdentifier,
  typePatternsOf,
  type TypePattern,
} from './identifier-match';

/**
 * The residual-PHI gate: after de-identification, every output is scanned for the identifiers of its own raw record
 * (exact and normalized: case, spacing, separators, full-width, partial names) and for identifier patterns. Findings
 * name the rule and the JSON path, never the value.
 */

const HAN = /\p{Script=Han}/u;
const PERSON_TYPES = new Set(['Patient', 'RelatedPerson', 'Person']);

/** Add a trimmed identifier value long enough to match on (3 letters or digits; 2 for Han). */
export function pushIdentifier(out: SourceIdentifier[], type: string, value: unknown): void {
  if (typeof value !== 'string') return;
  const v = value.trim();
  if (!v) return;
  const alnum = v.replace(/[^\p{L}\p{N}]/gu, '');
  if (HAN.test(v) ? alnum.length < 2 : alnum.length < 3) return;
  out.push({ type, value: v });
}

function namesOf(name: Record<string, unknown>, out: SourceIdentifier[]): void {
  const family = typeof name.family === 'string' ? name.family : '';
  const given = Array.isArray(name.given) ? name.given.filter((g): g is string => typeof g === 'string') : [];
  pushIdentifier(out, 'name', name.text);
  pushIdentifier(out, 'name', family);
  for (const g of given) pushIdentifier(out, 'name', g);
  if (family && given.length) {
    if (HAN.test(family)) pushIdentifier(out, 'name', family + given.join(''));
    else {
      pushIdentifier(out, 'name', `${given.join(' ')} ${family}`);
      pushIdentifier(out, 'name', `${family} ${given.join(' ')}`);
    }
  }
}

function datesOf(value: unknown, out: SourceIdentifier[]): void {
  if (typeof value !== 'string') return;
  const m = FHIR_DATE_RE.exec(value);
  if (!m || !m[3]) return;
  const [, y, mo, d] = m;
  out.push({ type: 'birth-date', value: `${y}-${mo}-${d}` });
  out.push({ type: 'birth-date', value: `${mo}/${d}/${y}` });
  out.push({ type: 'birth-date', value: `${+mo}/${+d}/${y}` });
  out.push({ type: 'birth-date', value: `${y}年${+mo}月${+d}日` });
}

function personIdentifiers(p: Record<string, unknown>, out: SourceIdentifier[]): void {
  for (const n of asArray(p.name)) if (n && typeof n === 'object') namesOf(n as Record<string, unknown>, out);
  for (const t of asArray(p.telecom)) pushIdentifier(out, 'telecom', (t as { value?: unknown })?.value);
  for (const a of asArray(p.address)) {
    const addr = a as Record<string, unknown> | undefined;
    if (!addr) continue;
    for (const l of asArray(addr.line)) pushIdentifier(out, 'address', l);
    pushIdentifier(out, 'address', addr.text);
    // A city that is its own province (北京市, 上海市; Washington DC) is allowed wherever the state is.
    if (addr.city !== addr.state) pushIdentifier(out, 'city', addr.city);
    pushIdentifier(out, 'address', addr.district);
    pushIdentifier(out, 'postal-code', addr.postalCode);
  }
  datesOf(p.birthDate, out);
  for (const c of asArray(p.contact)) {
    const contact = c as Record<string, unknown> | undefined;
    if (!contact) continue;
    if (contact.name && typeof contact.name === 'object')
      namesOf(contact.name as Record<string, unknown>, out);
    for (const t of asArray(contact.telecom))
      pushIdentifier(out, 'telecom', (t as { value?: unknown })?.value);
  }
}

function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
}

/**
 * The identifiers of a raw record: its own identifiers (any resource), plus the names, contact points, address
 * parts and birth date of its person (the resource itself when it is a Patient/RelatedPerson, and its patient).
 */
export function collectIdentifiers(resource: FhirResource, patient?: FhirResource): SourceIdentifier[] {
  const out: SourceIdentifier[] = [];
  for (const id of asArray(resource.identifier))
    pushIdentifier(out, 'identifier', (id as { value?: unknown })?.value);
  if (PERSON_TYPES.has(resource.resourceType)) personIdentifiers(resource, out);
  if (patient && patient !== resource) {
    for (const id of asArray(patient.identifier))
      pushIdentifier(out, 'identifier', (id as { value?: unknown })?.value);
    personIdentifiers(patient, out);
  }
  const seen = new Set<string>();
  return out.filter((i) => {
    const k = `${i.type}\0${i.value}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

const isWordChar = (c: string | undefined) => c !== undefined && /[0-9A-Za-z\u00C0-\u024F]/.test(c);

/**
 * Exact (case- and width-insensitive) occurrences of literal identifiers in `lowered` (foldWidth + toLowerCase of
 * the text): a cheap check for a resource's own business identifiers, which are unique per resource and not worth a
 * compiled regex each.
 */
export function findLiterals(lowered: string, literals: readonly string[]): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  for (let l = 0; l < literals.length; l++) {
    const lit = literals[l];
    if (lit.length < 4) continue;
    for (let i = lowered.indexOf(lit); i >= 0; i = lowered.indexOf(lit, i + 1)) {
      if (isWordChar(lowered[i - 1]) || isWordChar(lowered[i + lit.length])) continue;
      out.push({ start: i, end: i + lit.length });
    }
  }
  return out;
}

/** Whether findLiterals would find anything (the gate only needs that, not the offsets). */
function hasLiteral(lowered: string, literals: readonly string[]): boolean {
  for (let l = 0; l < literals.length; l++) {
    const lit = literals[l];
    if (lit.length < 4) continue;
    for (let i = lowered.indexOf(lit); i >= 0; i = lowered.indexOf(lit, i + 1)) {
      if (!isWordChar(lowered[i - 1]) && !isWordChar(lowered[i + lit.length])) return true;
    }
  }
  return false;
}

/**
 * An empty array of the same V8 elements kind as one holding `sample` (a `[]` literal starts as small integers): code
 * optimized for filled lists (of literals, of date readings) then stays valid for the empty ones, instead of being
 * thrown away for them.
 */
function emptyListOf<T>(sample: T): T[] {
  const a = [sample];
  a.pop();
  return a;
}

/** The shared empty list of literals (never written to). */
export const NO_STRINGS: string[] = emptyListOf('');

/** Literal form of identifiers for findLiterals. */
export function literalForms(values: readonly string[]): string[] {
  const out = emptyListOf('');
  for (let i = 0; i < values.length; i++) {
    const v = foldWidth(values[i]).trim().toLowerCase();
    if (v.length >= 4) out.push(v);
  }
  return out;
}

/** Words after which a bare digit run is a code, not a phone number (same list as the scrubber's). */
const CODE_CONTEXT =
  /(?:NDC|NPI|LOINC|SNOMED|CPT|RxNorm|ICD(?:-?10)?(?:-CM)?|UDI|GTIN|lot|batch)\s*(?:code|no\.?|number|#)?\s*[:#：]?\s*$/i;

/** Patterns that are PHI wherever they appear, minus the surrogate forms we emit ourselves. */
const PATTERNS: { rule: string; re: RegExp; accept?: (m: string, text: string, at: number) => boolean }[] = [
  {
    rule: 'gate.cn-resident-id',
    re: /(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])/g,
    accept: (m) => isValidResidentId(m),
  },
  { rule: 'gate.us-ssn', re: /(?<![0-9A-Za-z-])\d{3}-\d{2}-\d{4}(?![0-9-])/g },
  {
    rule: 'gate.luhn-card',
    re: /(?<![0-9A-Za-z])\d(?:[ -]?\d){12,18}(?![0-9A-Za-z])/g,
    accept: (m) => isLuhnValid(m) && !/^(\d)\1+$/.test(m.replace(/\D/g, '')),
  },
  { rule: 'gate.cn-mobile', re: /(?<![0-9A-Za-z])(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?![0-9A-Za-z])/g },
  {
    rule: 'gate.us-phone',
    re: /(?<![0-9A-Za-z-])(?:\+?1[ .-]?)?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![0-9-])/g,
    accept: (m) => !/555[ .-]01\d\d$/.test(m),
  },
  {
    // Ten digits in NANP shape with no separators ("reachable at 5948684022").
    rule: 'gate.us-phone-bare',
    re: /(?<![0-9A-Za-z.,/-])(?:\+?1[ -]?)?[2-9]\d{2}[2-9]\d{6}(?![0-9A-Za-z]|[.,/-]\d)/g,
    // 1 + ten digits is also a Chinese mobile's shape: gate.cn-mobile names that one.
    accept: (m, text, at) =>
      !/^1[3-9]\d{9}$/.test(m) && !CODE_CONTEXT.test(text.slice(Math.max(0, at - 16), at)),
  },
  {
    rule: 'gate.email',
    re: /[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}/g,
    accept: (m) => !/@example\.(?:org|com|net)$/i.test(m),
  },
  {
    // A vehicle identification number by its check character (the scrubber's text.vin).
    rule: 'gate.vin',
    re: /(?<![A-Za-z0-9])[A-HJ-NPR-Z0-9]{17}(?![A-Za-z0-9])/g,
    accept: readsAsVin,
  },
  {
    // A Medicare Beneficiary Identifier by its shape (the scrubber's text.us-mbi).
    rule: 'gate.us-mbi',
    re: new RegExp(`(?<![0-9A-Za-z])${US_MBI_SHAPE}(?![0-9A-Za-z])`, 'g'),
  },
  {
    rule: 'gate.ipv4',
    re: /(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\.?\d)/g,
    accept: (m) => !m.startsWith('192.0.2.'),
  },
];

/** Elements that hold machine values we wrote or vocabulary, never patient text. */
const SKIP_KEYS = new Set([
  'resourceType',
  'system',
  'profile',
  'id',
  'reference',
  'contentType',
  'language',
  'url',
  'code',
  'unit',
]);

export interface CompiledIdentifiers {
  /** identifierCores of every value: no identifier pattern can match a string whose matchKey holds none of them. */
  cores: string[];
  /**
   * The cores a FHIR date's matchKey can hold at all: only digits, T, Z, ':' and '+' are left of one (birth dates,
   * phone and ID digits). Shifted timestamps are most of a batch's unique strings. A match there counts only when it
   * spells a whole date (see spellsWholeDate).
   */
  dateCores: string[];
  /**
   * One pattern per identifier type, with that type's cores. A pattern is built and compiled on its first use: most
   * records' identifiers never get past the core check, and building a pattern costs more than scanning a record.
   */
  byType: TypePattern[];
  /** Short strings found clean against these identifiers. */
  clean: Set<string>;
}

const compiledCache = new WeakMap<readonly SourceIdentifier[], CompiledIdentifiers>();
/** Every character matchKey leaves of a FHIR date/dateTime/instant (FHIR_DATE_RE's, minus the '-' and '.' it drops). */
const FHIR_DATE_KEY_ONLY = /^[0-9TZ:+]*$/;

export function compileIdentifiers(
  identifiers: readonly SourceIdentifier[],
  allowTypes: readonly string[] = [],
): CompiledIdentifiers {
  const cached = allowTypes.length ? undefined : compiledCache.get(identifiers);
  if (cached) return cached;
  const groups = new Map<string, string[]>();
  for (const i of identifiers) {
    if (allowTypes.includes(i.type)) continue;
    const list = groups.get(i.type) ?? [];
    list.push(i.value);
    groups.set(i.type, list);
  }
  const byType = typePatternsOf(groups);
  const cores = [...new Set(byType.flatMap((t) => t.cores))];
  const compiled: CompiledIdentifiers = {
    cores,
    dateCores: cores.filter((c) => FHIR_DATE_KEY_ONLY.test(c)),
    byType,
    clean: new Set<string>(),
  };
  if (!allowTypes.length) compiledCache.set(identifiers, compiled);
  return compiled;
}

/**
 * In a FHIR date, an identifier shorter than the date's year, month and day can only coincide with part of it: the
 * Tianchi MRN 2018 in a check-up shifted into 2018 (35 resources quarantined), and a year alone is no identifier
 * under either profile. One that spells the whole date (a visit number 20190504) still counts.
 */
function spellsWholeDate(folded: string, m: { start: number; end: number }): boolean {
  let digits = 0;
  for (let i = m.start; i < m.end; i++) {
    const c = folded.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
  }
  return digits >= 8;
}

function onlyEponymUses(text: string, matches: readonly { start: number; end: number }[]): boolean {
  return matches.every((m) => followedByEponymWord(text, m.end));
}

/** `folded` is foldWidth of the string. */
function scanString(
  folded: string,
  fhirDate: boolean,
  path: string,
  ids: CompiledIdentifiers,
  literals: readonly string[],
  findings: Finding[],
  patterns = true,
): void {
  if (literals.length && hasLiteral(folded.toLowerCase(), literals))
    findings.push({ rule: 'gate.record-identifier:resource', path });
  // Strings already found clean for these identifiers (codes, displays, statuses repeat) are not scanned again. Clean
  // without the patterns is not clean: such a scan neither reads nor fills the cache.
  const cacheable = patterns && folded.length <= 256;
  if (cacheable && ids.clean.has(folded)) return;
  const before = findings.length;
  scanPatterns(folded, fhirDate, path, ids, findings, patterns);
  if (cacheable && findings.length === before) {
    if (ids.clean.size >= 20_000) ids.clean.clear();
    ids.clean.add(folded);
  }
}

function scanPatterns(
  folded: string,
  fhirDate: boolean,
  path: string,
  ids: CompiledIdentifiers,
  findings: Finding[],
  patterns = true,
): void {
  // A type's pattern can only match where one of its cores occurs (see identifierCores): the others are not run.
  const cores = fhirDate ? ids.dateCores : ids.cores;
  const key = cores.length ? matchKey(folded) : '';
  if (cores.length && mayContainIdentifier(key, cores)) {
    for (let i = 0; i < ids.byType.length; i++) {
      const t = ids.byType[i];
      const type = t.type;
      const matches = identifierMatches(t, folded, key, type === 'name' ? Infinity : 1);
      if (!matches.length) continue;
      if (fhirDate && type !== 'birth-date' && !matches.some((m) => spellsWholeDate(folded, m))) continue;
      // A surname that is also an eponym ("Parkinson's disease") is medicine, not the patient, when a disease word follows.
      if (type === 'name' && onlyEponymUses(folded, matches)) continue;
      findings.push({ rule: `gate.record-identifier:${type}`, path });
    }
  }
  // patternRules has nothing for a bare FHIR date: shifted timestamps are unique, not worth a cache entry each.
  // Without a digit or '@' patternRules finds nothing: such strings are settled without a cache lookup.
  const rules =
    !patterns || fhirDate || (!ANY_DIGIT.test(folded) && !folded.includes('@'))
      ? NO_RULES
      : folded.length <= PATTERN_CACHE_MAX_LENGTH
        ? patternRulesCached(folded)
        : patternRules(folded);
  for (let i = 0; i < rules.length; i++) findings.push({ rule: rules[i], path });
}

/**
 * The patterns depend on the string alone, not on the record: short strings' results are remembered across records
 * (displays, code texts and dates recur).
 */
const patternCache = new Map<string, readonly string[]>();
const PATTERN_CACHE_MAX_LENGTH = 256;
const PATTERN_CACHE_MAX_ENTRIES = 50_000;
const NO_RULES: readonly string[] = [];

function patternRulesCached(folded: string): readonly string[] {
  let rules = patternCache.get(folded);
  if (!rules) {
    rules = patternRules(folded);
    if (patternCache.size >= PATTERN_CACHE_MAX_ENTRIES) patternCache.clear();
    patternCache.set(folded, rules);
  }
  return rules;
}

/** Forget every remembered string (benchmarks measure a cold process with it). */
export function clearGateCaches(): void {
  patternCache.clear();
  readingsCache.clear();
}

/** The PATTERNS rules that match `folded` (one each), in PATTERNS order. */
function patternRules(folded: string): readonly string[] {
  // A bare FHIR date carries no phone, ID or address pattern (and dates are shifted by construction).
  const hasAt = folded.includes('@');
  if ((!hasAt && !/\d/.test(folded)) || FHIR_DATE_RE.test(folded)) return NO_RULES;
  let out: string[] | undefined;
  for (let i = 0; i < PATTERNS.length; i++) {
    const p = PATTERNS[i];
    if (p.rule === 'gate.email' && !hasAt) continue;
    p.re.lastIndex = 0;
    for (let m = p.re.exec(folded); m; m = p.re.exec(folded)) {
      if (!p.accept || p.accept(m[0], folded, m.index)) {
        (out ??= []).push(p.rule);
        break;
      }
    }
  }
  return out ?? NO_RULES;
}

/** January → 1 … December → 12, by the first three letters in any case ("Sept", "SEPTEMBER"); 0 for no month. */
export function monthNumber(name: string): number {
  return MONTH_NUMBER[name.slice(0, 3).toLowerCase()] ?? 0;
}

const MONTH_NUMBER: Record<string, number> = {
  jan: 1,
  feb: 2,
  mar: 3,
  apr: 4,
  may: 5,
  jun: 6,
  jul: 7,
  aug: 8,
  sep: 9,
  oct: 10,
  nov: 11,
  dec: 12,
};
const GATE_MONTH =
  '(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)';
const ZH_DIGIT: Record<string, number> = { 一: 1, 二: 2, 三: 3, 四: 4, 五: 5, 六: 6, 七: 7, 八: 8, 九: 9 };
function zhNumber(s: string): number {
  if (!s.includes('十')) return ZH_DIGIT[s] ?? 0;
  const [a, b] = s.split('十');
  return (a ? (ZH_DIGIT[a] ?? 0) : 1) * 10 + (b ? (ZH_DIGIT[b] ?? 0) : 0);
}

/**
 * Month-day forms a text may date a person with, each as `m-d` (the year is allowed to stay, so it is left out):
 * "Nov 6", "6th of November", "3月7日", "三月七日", and numeric dates that carry a year (a bare "1/2" is a dose).
 * Deliberately broader than the scrubber's detectors (any case, any spacing), so a date the scrubber missed is
 * still seen here.
 */
const MONTH_DAY_FORMS: {
  re: RegExp;
  needs: 'month-name' | 'sep' | 'yue-digit' | 'yue';
  parts: (m: RegExpExecArray) => [number, number][];
}[] = [
  {
    re: new RegExp(`(?<![a-z])${GATE_MONTH}(?:\\.?\\s{1,3}|-)(\\d{1,2})(?:st|nd|rd|th)?(?!\\d)`, 'gi'),
    needs: 'month-name',
    parts: (m) => (m[1] === 'may' ? [] : [[monthNumber(m[1]), +m[2]]]),
  },
  {
    re: new RegExp(
      `(?<![0-9a-z])(\\d{1,2})(?:st|nd|rd|th)?(?:\\s{1,3}(?:of\\s{1,3})?|-)${GATE_MONTH}(?![a-z])`,
      'gi',
    ),
    needs: 'month-name',
    parts: (m) => (m[2] === 'may' ? [] : [[monthNumber(m[2]), +m[1]]]),
  },
  { re: /(\d{1,2})\s?月\s?(\d{1,2})\s?[日号]/g, needs: 'yue-digit', parts: (m) => [[+m[1], +m[2]]] },
  {
    re: /([一二三四五六七八九十]{1,2})月([一二三四五六七八九十]{1,3})[日号]/g,
    needs: 'yue',
    parts: (m) => [[zhNumber(m[1]), zhNumber(m[2])]],
  },
  {
    // One separator throughout, as a date is written (4.28-17.7 is a range of values).
    re: /(?<![0-9])\d{4}([-/.]{1,2})(\d{1,2})\1(\d{1,2})(?![0-9])/g,
    needs: 'sep',
    parts: (m) => [[+m[2], +m[3]]],
  },
  {
    // 03/04/2025 is March 4 in one country and 3 April in the next: both readings count.
    // Not inside a decimal either (0.16-19.7, 4.28-17.7 µg/mL), as the scrubber's text.date-mdy.
    re: /(?<![0-9/.-])(\d{1,2})([-/.])(\d{1,2})\2(?:\d{4}|\d{2})(?![0-9]|[/.-]\d)/g,
    needs: 'sep',
    parts: (m) => [
      [+m[1], +m[3]],
      [+m[3], +m[1]],
    ],
  },
];

const ANY_DIGIT = /[0-9]/;
const ANY_LETTER = /[A-Za-z]/;
const ANY_SPACE = /\s/;
const NUMERIC_DATE_SHAPE = /[0-9][-./]{1,2}[0-9]{1,2}[-./]{1,2}[0-9]/;

/** No readings, of the elements kind of a list of readings. */
const NO_READINGS = emptyListOf<string[]>([]);

/** Each month-day written in `text`, as its possible readings (`m-d` keys; two for an ambiguous numeric date). */

function monthDayReadings(text: string): string[][] {
  const out: string[][] = [];
  // Each form needs characters most strings lack (a digit with a letter, a digit-separator-digit run, or 月): cheap
  // native scans decide which forms can match at all, instead of running all six regexes on every string.
  const digit = ANY_DIGIT.test(text);
  const yue = text.includes('月');
  if (!digit && !yue) return NO_READINGS;
  // The month-name forms also need whitespace or '-' between month and day (base64 and codes have neither).
  const monthName = digit && ANY_LETTER.test(text) && (text.includes('-') || ANY_SPACE.test(text));
  // Both numeric forms hold digit, separator, one or two digits, separator, digit (2024/5/4, 03.04.25): a UUID's or
  // a code's dashes never do.
  const numericDate = digit && NUMERIC_DATE_SHAPE.test(text);
  for (let f = 0; f < MONTH_DAY_FORMS.length; f++) {
    const form = MONTH_DAY_FORMS[f];
    if (
      form.needs === 'month-name'
        ? !monthName
        : form.needs === 'sep'
          ? !numericDate
          : form.needs === 'yue-digit'
            ? !(digit && yue)
            : !yue
    )
      continue;
    form.re.lastIndex = 0;
    for (let m = form.re.exec(text); m; m = form.re.exec(text)) {
      const parts = form.parts(m);
      let readings: string[] | undefined;
      for (const [mo, d] of parts)
        if (mo >= 1 && mo <= 12 && d >= 1 && d <= 31) (readings ??= []).push(`${mo}-${d}`);
      if (readings) out.push(readings);
    }
  }
  return out.length ? out : NO_READINGS;
}

/** Month-day readings of short strings, remembered like the patterns (they depend on the text alone). */
const readingsCache = new Map<string, readonly (readonly string[])[]>();

function monthDayReadingsCached(folded: string): readonly (readonly string[])[] {
  let r = readingsCache.get(folded);
  if (!r) {
    r = monthDayReadings(folded);
    if (readingsCache.size >= PATTERN_CACHE_MAX_ENTRIES) readingsCache.clear();
    readingsCache.set(folded, r);
  }
  return r;
}

function addMonthDays(text: string, out: Set<string>): void {
  const all = text.length <= PATTERN_CACHE_MAX_LENGTH ? monthDayReadingsCached(text) : monthDayReadings(text);
  for (const readings of all) for (const k of readings) out.add(k);
}

/** Every month-day written anywhere in a resource (strings and decoded text attachments). */
export function monthDaysOf(resource: unknown): Set<string> {
  const out = new Set<string>();
  visitMonthDays(resource, 0, out);
  return out;
}

function visitMonthDays(node: unknown, depth: number, out: Set<string>): void {
  if (depth > 64) return;
  if (typeof node === 'string') addMonthDays(foldWidth(node), out);
  else if (Array.isArray(node)) for (const n of node) visitMonthDays(n, depth + 1, out);
  else if (node && typeof node === 'object') {
    const text = decodeTextAttachment(node as Record<string, unknown>);
    if (text !== undefined) addMonthDays(foldWidth(text), out);
    for (const k in node) visitMonthDays((node as Record<string, unknown>)[k], depth + 1, out);
  }
}

/**
 * The month-days of a raw record that, written in its output, mean a date was not shifted: the raw ones minus those
 * its shift itself produces (an offset equal to the gap between two of the record's dates makes one date land on
 * another). Years 2001, 2003 and 2004 cover every leap-day crossing.
 */
export function unshiftedMonthDays(raw: unknown, offsetDays: number): Set<string> {
  const rawDays = monthDaysOf(raw);
  const shifted = new Set<string>();
  for (const k of rawDays) {
    const [mo, d] = k.split('-').map(Number);
    for (const y of [2001, 2003, 2004]) {
      const [, nm, nd] = addDays(y, mo, d, offsetDays);
      shifted.add(`${nm}-${nd}`);
    }
  }
  for (const k of shifted) rawDays.delete(k);
  return rawDays;
}

/** The text of an attachment with a text/* content type; undefined for any other (or none). */
export function decodeTextAttachment(node: Record<string, unknown>): string | undefined {
  if (typeof node.data !== 'string' || typeof node.contentType !== 'string') return undefined;
  if (!/^text\//i.test(node.contentType)) return undefined;
  return Buffer.from(node.data, 'base64').toString('utf8');
}

/** A month-day of the raw record written in the output: a date the scrubber did not shift. */
function scanDates(folded: string, fhirDate: boolean, st: GateState, findings: Finding[]): void {
  // Structured FHIR dates are shifted by rule, not by the scrubber.
  if (fhirDate) return;
  // monthDayReadings finds nothing without a digit or 月: most strings are settled here without a cache lookup.
  if (!ANY_DIGIT.test(folded) && !folded.includes('月')) return;
  const all =
    folded.length <= PATTERN_CACHE_MAX_LENGTH ? monthDayReadingsCached(folded) : monthDayReadings(folded);
  if (!all.length) return;
  // The raw record's month-days are only worked out once some output string writes a month-day at all.
  const unshifted =
    st.unshiftedSet ??
    (st.unshiftedSet = typeof st.unshifted === 'function' ? st.unshifted() : st.unshifted!);
  if (!unshifted.size) return;
  // Every reading must match: 04/08 read both ways is only flagged when the record held it both ways too.
  for (let r = 0; r < all.length; r++) {
    const readings = all[r];
    let every = true;
    for (let i = 0; i < readings.length; i++) if (!unshifted.has(readings[i])) every = false;
    if (every) {
      findings.push({ rule: 'gate.unshifted-date', path: '' });
      return;
    }
  }
}

interface GateState {
  ids: CompiledIdentifiers;
  literals: readonly string[];
  unshifted?: ReadonlySet<string> | (() => ReadonlySet<string>);
  unshiftedSet?: ReadonlySet<string>;
  /** Ages above it must be top-coded (undefined: the policy keeps ages). */
  topAge?: number;
  /** The day ages are read on: a date older than topAge years before it must be the class's year alone. */
  referenceDate?: Date;
  /** Whether identifier patterns are read (not for reference data). */
  patterns: boolean;
  /** See scanResidualPhi's `allowed`. */
  allowed: readonly string[];
  findings: Finding[];
  /**
   * The JSON path: the resource type, then element names and array indices. Formatted only for a finding:
   * building a path per string would cost more than the scan.
   */
  segs: (string | number)[];
}

/** Where a value the policy allows stands whole: the parts of an address below the country, a birth date. */
const ALLOWED_VALUE_KEYS: ReadonlySet<string> = new Set([
  'city',
  'district',
  'state',
  'postalCode',
  'birthDate',
]);

function scanGateString(value: string, st: GateState, key = ''): void {
  const findings = st.findings;
  const before = findings.length;
  const folded = foldWidth(value);
  const precision = fhirDatePrecision(folded);
  const fhirDate = precision > 0;
  scanString(folded, fhirDate, '', st.ids, st.literals, findings, st.patterns);
  if (st.unshifted) scanDates(folded, fhirDate, st, findings);
  // A date that says its person is over topAge, kept with its month (a custom policy's keep, a path no date rule
  // reached): the engine writes such a date as the class's year alone. A year alone is often a code, so it is left.
  if (
    fhirDate &&
    st.topAge !== undefined &&
    st.referenceDate &&
    st.patterns &&
    isOlderThan(folded, st.referenceDate, st.topAge) &&
    !NEVER_DATE_KEYS.has(key) &&
    precision >= 7
  )
    findings.push({ rule: 'gate.date-over-89', path: '' });
  if (
    findings.length > before &&
    st.allowed.length &&
    ALLOWED_VALUE_KEYS.has(key) &&
    st.allowed.includes(normalizeForMatch(folded))
  ) {
    findings.length = before;
    return;
  }
  if (findings.length > before) {
    const path = pathOf(st.segs);
    for (let i = before; i < findings.length; i++) findings[i].path = path;
  }
}

function pathOf(segs: readonly (string | number)[]): string {
  let path = String(segs[0]);
  for (let i = 1; i < segs.length; i++) {
    const s = segs[i];
    path += typeof s === 'number' ? `[${s}]` : `.${s}`;
  }
  return path;
}

function visitGate(node: unknown, key: string, depth: number, st: GateState): void {
  if (depth > 64) {
    st.findings.push({ rule: 'gate.too-deep', path: pathOf(st.segs) });
    return;
  }
  if (typeof node === 'string') {
    if (!SKIP_KEYS.has(key)) scanGateString(node, st, key);
    return;
  }
  if (!node || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      st.segs.push(i);
      visitGate(node[i], key, depth + 1, st);
      st.segs.pop();
    }
    return;
  }
  const obj = node as Record<string, unknown>;
  const text = decodeTextAttachment(obj);
  if (text !== undefined) {
    st.segs.push('data');
    scanGateString(text, st);
    st.segs.pop();
  }
  // An age is a number, which the string scan never sees: an Age element, or the value of an Observation (or a
  // component) coded as the patient's age.
  const ageValued =
    st.topAge !== undefined &&
    (depth === 0 ? st.segs[0] === 'Observation' : key === 'component') &&
    isAgeCode(obj.code);
  for (const k in obj) {
    if (k === 'data' && text !== undefined) continue;
    st.segs.push(k);
    if (
      st.topAge !== undefined &&
      (isAgeTypedKey(k) || (ageValued && isValueChoiceKey(k))) &&
      isAgeOverTop(obj[k], st.topAge)
    )
      st.findings.push({ rule: 'gate.age-over-89', path: pathOf(st.segs) });
    visitGate(obj[k], k, depth + 1, st);
    st.segs.pop();
  }
}

/**
 * Scan a de-identified output for the identifiers of its raw record and for identifier patterns. Text attachments
 * are decoded and scanned. Returns one finding per (rule, path); values never leave this function.
 */
export function scanResidualPhi(
  output: FhirResource,
  identifiers: readonly SourceIdentifier[] | readonly string[],
  options: {
    allowTypes?: readonly string[];
    literals?: readonly string[];
    /**
     * Month-days of the raw record that must not appear in the output (see unshiftedMonthDays); a function is
     * called only when some output string writes a month-day.
     */
    unshiftedDates?: ReadonlySet<string> | (() => ReadonlySet<string>);
    /** Ages above it are findings unless top-coded (HIPAA: 89); leave out where the policy keeps ages. */
    topAge?: number;
    /** With topAge: a date with its month that makes its person older than topAge on this day is a finding. */
    referenceDate?: Date;
    /** false: identifier patterns are not read (reference data, whose phones and dates are public facts). */
    patterns?: boolean;
    /**
     * The record's identifiers the policy lets stand (a city under gbt-37964, a ZIP and a birth date in a limited data
     * set), normalized (normalizeForMatch). An address part or a birth date that is exactly one of them is no finding
     * whatever else it equals: a patient whose given name is their town's was quarantined for keeping the town.
     */
    allowed?: readonly string[];
  } = {},
): Finding[] {
  const list: readonly SourceIdentifier[] =
    identifiers.length && typeof identifiers[0] === 'string'
      ? (identifiers as readonly string[]).map((value) => ({ type: 'identifier', value }))
      : (identifiers as readonly SourceIdentifier[]);
  const u = options.unshiftedDates;
  const st: GateState = {
    ids: compileIdentifiers(list, options.allowTypes),
    literals: options.literals ?? NO_STRINGS,
    unshifted: typeof u === 'function' ? u : u?.size ? u : undefined,
    topAge: options.topAge,
    referenceDate: options.referenceDate,
    patterns: options.patterns ?? true,
    allowed: options.allowed ?? NO_STRINGS,
    findings: [],
    segs: [output.resourceType],
  };
  visitGate(output, '', 0, st);
  return st.findings;
}
