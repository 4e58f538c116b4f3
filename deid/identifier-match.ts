import { foldWidth } from './identifiers';

/**
 * How a record's own identifier may reappear in text: any case, spacing, separators, full-width. The gate and the
 * scrubber both look for a record's identifiers this way.
 *
 * Each value becomes an alternative: a sequence of literal characters (compared case-insensitively) and separator
 * gaps, with word boundaries around it. identifierPattern writes the alternatives as one regex; identifierMatches runs
 * them directly, and only where a match can start (see identifierCores). Running them directly is the point: the
 * values are per patient, so a regex would be new for every record, and V8 compiles a regex on its first use (about
 * 0.1 ms for a record's names, IDs or dates); that compilation was 12% of an ingest run's main thread. The regex stays
 * the specification: tests hold identifierMatches to a global scan with identifierPattern on the same values.
 */

const HAN = /\p{Script=Han}/u;

/**
 * How freely a mostly numeric value may be written: `id` (the default: IDs and phone numbers), `date` (a birth date's
 * written forms), `code` (postal codes).
 *
 * An ID may come back with a separator (not required) between any two of its characters: 123-45-6789, 123 45 6789 or
 * 123456789. Dates and postal codes are written more strictly, and reading them that freely made other dates read as
 * them, which quarantined correctly de-identified notes: the "12/1993" of 08/12/1993 as the birth date 1/2/1993
 * (nobody writes it 121993), the "10-05 07" of 2025-10-05 07:18 as the postal code 100507. So a date written without
 * padding keeps a separator between its parts, and a postal code is its digits as they are, with a separator only
 * where the code has one (94122-1234).
 */
export type NumericForm = 'id' | 'date' | 'code';

/** The numeric form of an identifier type: the gate's types and the scrubber's PHI types. */
export function numericFormOf(type: string): NumericForm {
  return type === 'birth-date' || type === 'date' ? 'date' : type === 'postal-code' ? 'code' : 'id';
}

/** Character classes, as bits; each is the regex class of the same name in identifierPattern's sources. */
const SPACE = 1; // \s
const SEPARATOR = 2; // [\s\-./]
const SPACE_OR_COMMA = 4; // [\s,]
const ALNUM = 8; // [0-9A-Za-z], case-insensitive
const WORD = 16; // [0-9A-Za-z\u00C0-\u024F], case-insensitive
const CLASS_SOURCES: Record<number, string> = {
  [SPACE]: '\\s',
  [SEPARATOR]: '[\\s\\-./]',
  [SPACE_OR_COMMA]: '[\\s,]',
  [ALNUM]: '[0-9A-Za-z]',
  [WORD]: '[0-9A-Za-z\\u00C0-\\u024F]',
};
const CLASS_TESTS = Object.entries(CLASS_SOURCES).map(([bit, source]) => ({
  bit: Number(bit),
  re: new RegExp(source, 'i'),
}));
const KNOWN = 128;

/** Class bits per UTF-16 code unit, asked of the regex engine itself the first time a unit is seen. */
const classTable = new Uint8Array(65536);
function classesOf(unit: number): number {
  let bits = classTable[unit];
  if (bits === 0) {
    bits = KNOWN;
    const ch = String.fromCharCode(unit);
    for (const c of CLASS_TESTS) if (c.re.test(ch)) bits |= c.bit;
    classTable[unit] = bits;
  }
  return bits;
}

const canonTable = new Uint16Array(65536);
const canonKnown = new Uint8Array(65536);
/**
 * A code unit as a case-insensitive regex without the `u` flag compares it (ECMA-262 Canonicalize): its upper case
 * when that is one unit and does not turn a non-ASCII unit into an ASCII one.
 */
export function canonicalUnit(unit: number): number {
  if (canonKnown[unit]) return canonTable[unit];
  const upper = String.fromCharCode(unit).toUpperCase();
  const u = upper.length === 1 ? upper.charCodeAt(0) : unit;
  const c = unit >= 128 && u < 128 ? unit : u;
  canonTable[unit] = c;
  canonKnown[unit] = 1;
  return c;
}

/** A literal character, or a run of min..max characters of a class. */
type Step = { unit: number; text: string } | { cls: number; min: number; max: number };

/** One value as it may reappear; `boundary` is the class that may not touch it on either side (0: none). */
interface Alternative {
  boundary: number;
  steps: Step[];
  source: string;
}

const literal = (text: string): Step[] =>
  text.split('').map((ch) => ({ unit: canonicalUnit(ch.charCodeAt(0)), text: ch }));
const gap = (cls: number, min: number, max: number): Step => ({ cls, min, max });

function joined(parts: Step[][], between: Step): Step[] {
  const out: Step[] = [];
  parts.forEach((p, i) => {
    if (i > 0) out.push(between);
    out.push(...p);
  });
  return out;
}

function numericSteps(value: string, form: NumericForm): Step[] {
  const parts = value.split(/[^\p{L}\p{N}]+/u).filter(Boolean);
  const spaced = (s: string) =>
    joined(
      literal(s).map((step) => [step]),
      gap(SEPARATOR, 0, 1),
    );
  if (form === 'code') return joined(parts.map(literal), gap(SEPARATOR, 1, 3));
  if (form === 'date' && parts.length > 1 && parts.some((p) => p.length === 1))
    return joined(parts.map(spaced), gap(SEPARATOR, 1, 3));
  return spaced(parts.join(''));
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function sourceOf(boundary: number, steps: readonly Step[]): string {
  let s = boundary ? `(?<!${CLASS_SOURCES[boundary]})` : '';
  for (const step of steps) {
    if ('unit' in step) s += escapeRe(step.text);
    else
      s += CLASS_SOURCES[step.cls] + (step.min === 0 && step.max === 1 ? '?' : `{${step.min},${step.max}}`);
  }
  return boundary ? `${s}(?!${CLASS_SOURCES[boundary]})` : s;
}

/** The value as found in text: width-folded and trimmed; '' when it is too short to match on. */
function matchableValue(
  raw: string,
): { v: string; alnum: string; han: boolean; numeric: boolean } | undefined {
  const v = foldWidth(raw).trim();
  if (!v) return undefined;
  const alnum = v.replace(/[^\p{L}\p{N}]/gu, '');
  const han = HAN.test(v);
  if (han ? alnum.length < 2 : alnum.length < 3) return undefined;
  const digitCount = (alnum.match(/\d/g) ?? []).length;
  return { v, alnum, han, numeric: digitCount >= 4 && digitCount >= alnum.length * 0.6 };
}

/** The values' alternatives, longest source first (a regex alternation tries them in that order), without repeats. */
function identifierAlternatives(values: readonly string[], form: NumericForm): Alternative[] {
  const bySource = new Map<string, Alternative>();
  for (const raw of values) {
    const m = matchableValue(raw);
    if (!m) continue;
    let boundary: number;
    let steps: Step[];
    if (m.numeric) {
      boundary = ALNUM;
      steps = numericSteps(m.v, form);
    } else if (m.han) {
      boundary = 0;
      steps = joined(
        literal(m.alnum).map((step) => [step]),
        gap(SPACE, 0, 1),
      );
    } else {
      boundary = WORD;
      steps = joined(m.v.split(/[\s,]+/).map(literal), gap(SPACE_OR_COMMA, 1, 3));
    }
    const source = sourceOf(boundary, steps);
    if (!bySource.has(source)) bySource.set(source, { boundary, steps, source });
  }
  return [...bySource.values()].sort((a, b) => b.source.length - a.source.length);
}

/**
 * A regex matching any of `values` the way they may reappear (match it against foldWidth(text)). The specification
 * of identifierMatches, which runs the same alternatives without compiling a regex.
 */
export function identifierPattern(
  values: readonly string[],
  options: { global?: boolean; form?: NumericForm } = {},
): RegExp | null {
  const alternatives = identifierAlternatives(values, options.form ?? 'id');
  if (!alternatives.length) return null;
  return new RegExp(alternatives.map((a) => a.source).join('|'), options.global ? 'gi' : 'i');
}

/**
 * What any match of identifierPattern(values) must contain once case and separators are ignored: for each value, its
 * characters without whitespace, `-`, `.`, `/` and `,` (the only characters a pattern lets vary between them), upper
 * case. When none of these is a substring of matchKey(text), the pattern cannot match: checking that costs a few
 * substring searches instead of trying every alternative at every position.
 */
export function identifierCores(values: readonly string[]): string[] {
  const cores = new Set<string>();
  for (const raw of values) {
    const m = matchableValue(raw);
    if (!m) continue;
    const core = m.numeric || m.han ? m.alnum : matchKey(m.v);
    cores.add(core.toUpperCase());
  }
  return [...cores];
}

const MATCH_KEY_SEPARATORS = /[\s\-./,]/g;

/** Upper case, without the separators identifier patterns let vary (see identifierCores). */
export function matchKey(text: string): string {
  return text.toUpperCase().replace(MATCH_KEY_SEPARATORS, '');
}

/** True when some core occurs in the key: only then can the identifier pattern match. */
export function mayContainIdentifier(key: string, cores: readonly string[]): boolean {
  for (let i = 0; i < cores.length; i++) if (key.includes(cores[i])) return true;
  return false;
}

/** An identifier type's values, their cores, and their alternatives (built on first use). */
export interface TypePattern<T extends string = string> {
  type: T;
  values: string[];
  cores: string[];
  alternatives?: Alternative[];
}

/**
 * Values grouped by type, as TypePatterns. A type none of whose values is long enough to match on is left out:
 * identifierCores skips exactly the values identifierAlternatives skips.
 */
export function typePatternsOf<T extends string>(groups: ReadonlyMap<T, string[]>): TypePattern<T>[] {
  const out: TypePattern<T>[] = [];
  for (const [type, values] of groups) {
    const cores = identifierCores(values);
    if (cores.length) out.push({ type, values, cores });
  }
  return out;
}

/** Where `alt` matching at `at` ends, or -1; as the regex does (see the comment on gaps). */
function matchAt(alt: Alternative, text: string, at: number): number {
  const { boundary, steps } = alt;
  if (boundary && at > 0 && classesOf(text.charCodeAt(at - 1)) & boundary) return -1;
  let i = at;
  const n = text.length;
  for (let s = 0; s < steps.length; s++) {
    const step = steps[s];
    if ('unit' in step) {
      if (i >= n || canonicalUnit(text.charCodeAt(i)) !== step.unit) return -1;
      i++;
      continue;
    }
    // A gap is followed by a literal outside its class (values are split on the gap's characters), so taking as
    // many as it allows never takes one the literal needed: no backtracking, unless it ends the alternative.
    let count = 0;
    while (count < step.max && i < n && classesOf(text.charCodeAt(i)) & step.cls) {
      i++;
      count++;
    }
    if (count < step.min) return -1;
    if (s === steps.length - 1 && boundary) {
      // A trailing gap gives characters back until the boundary holds, as a regex backtracks.
      while (i < n && classesOf(text.charCodeAt(i)) & boundary) {
        if (count === step.min) return -1;
        i--;
        count--;
      }
      return i;
    }
  }
  if (boundary && i < n && classesOf(text.charCodeAt(i)) & boundary) return -1;
  return i;
}

const KEY_SEPARATOR_RUNS = /[\s\-./,]+/g;

/**
 * For each character of matchKey(folded), its offset in `folded`; null when upper-casing changed the length (ß is
 * SS), and offsets no longer line up.
 */
function keyOffsets(folded: string, key: string): Int32Array | null {
  const offsets = new Int32Array(key.length);
  let k = 0;
  let at = 0;
  KEY_SEPARATOR_RUNS.lastIndex = 0;
  for (let m = KEY_SEPARATOR_RUNS.exec(folded); ; m = KEY_SEPARATOR_RUNS.exec(folded)) {
    const end = m ? m.index : folded.length;
    if (k + end - at > key.length) return null;
    for (let i = at; i < end; i++) offsets[k++] = i;
    if (!m) break;
    at = m.index + m[0].length;
  }
  return k === key.length ? offsets : null;
}

const NO_MATCHES: { start: number; end: number }[] = [];

/**
 * The matches of the type's values in `folded` (foldWidth of a string; `key` its matchKey), left to right and without
 * overlaps, as a global scan with identifierPattern finds them; `limit` 1 asks only whether there is one. A match's
 * matchKey is one of the type's cores (identifierCores), so a match starts where a core starts in the key, or on the
 * separators just before it: the alternatives are tried there only.
 */
export function identifierMatches(
  t: TypePattern,
  folded: string,
  key: string,
  limit = Infinity,
): { start: number; end: number }[] {
  const starts: number[] = [];
  for (let c = 0; c < t.cores.length; c++) {
    const core = t.cores[c];
    for (let i = key.indexOf(core); i >= 0; i = key.indexOf(core, i + 1)) starts.push(i);
  }
  if (!starts.length) return NO_MATCHES;
  const alternatives = (t.alternatives ??= identifierAlternatives(t.values, numericFormOf(t.type)));
  const offsets = keyOffsets(folded, key);
  const candidates: number[] = [];
  if (offsets) {
    for (let s = 0; s < starts.length; s++) {
      const k = starts[s];
      // Separators before the core's first character (a value may begin with '-', '.' or '/').
      for (let p = k === 0 ? 0 : offsets[k - 1] + 1; p <= offsets[k]; p++) candidates.push(p);
    }
    candidates.sort((a, b) => a - b);
  } else {
    // Offsets do not line up: every position is a candidate, as for a regex scan.
    for (let p = 0; p < folded.length; p++) candidates.push(p);
  }
  const out: { start: number; end: number }[] = [];
  let end = 0;
  for (let c = 0; c < candidates.length && out.length < limit; c++) {
    const p = candidates[c];
    if (p < end) continue;
    for (let a = 0; a < alternatives.length; a++) {
      const e = matchAt(alternatives[a], folded, p);
      if (e > p) {
        out.push({ start: p, end: e });
        end = e;
        break;
      }
    }
  }
  return out;
}
