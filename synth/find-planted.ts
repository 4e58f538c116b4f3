import type { GroundTruth } from '../schemas/ground-truth';

/**
 * Looking for the generator's planted protected values in what the pipeline wrote (published outputs, workflow
 * histories, work items), without ever printing one: a hit says which planted value (type, institution, source,
 * path) and where it sits, not what it is.
 */

/**
 * How a planted value is looked for. Histories are full of random identifiers (run ids, build-id hashes, task queue
 * suffixes, base64): a short value such as a 5-digit ZIP or `092Y` turns up inside them by chance. So digits must not
 * touch digits, and a short value (under 7 characters) must stand alone, not inside a longer run of letters and
 * digits. A value as PHI is written (a JSON string, a note, an HL7 field) is bounded by punctuation or spaces.
 */
export function plantedPattern(value: string, flags = ''): RegExp {
  const escaped = value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const edge = value.length < 7 ? '[0-9A-Za-z]' : /^\d+$/.test(value) ? '[0-9]' : '';
  return new RegExp(edge ? `(?<!${edge})${escaped}(?!${edge})` : escaped, flags);
}

/**
 * Where a match sits, without the value: the resource type of its line, the JSON key before it, and the shape of the
 * token around it. A long digit-only value can turn up inside a pseudonymous hex id by chance (a 16-character hex
 * id holds a given 7-digit run about once in 2.7·10^7: ten places, 16^-7 each): the shape tells such a coincidence
 * from a copy.
 */
function describeMatch(text: string, at: number, length: number): string {
  const lineStart = text.lastIndexOf('\n', at) + 1;
  let a = at;
  let b = at + length;
  while (a > lineStart && /[0-9A-Za-z]/.test(text[a - 1])) a--;
  while (b < text.length && /[0-9A-Za-z]/.test(text[b])) b++;
  const token = text.slice(a, b);
  const shape = /^[0-9]+$/.test(token)
    ? `a number of ${token.length} digits`
    : /^[0-9a-f]+$/.test(token)
      ? `a hex token of ${token.length}`
      : `a token of ${token.length} characters`;
  const before = text.slice(lineStart, a);
  const type =
    /"resourceType":"(\w+)"/.exec(text.slice(lineStart, text.indexOf('\n', at) >>> 0))?.[1] ?? 'unknown';
  const key = /"([^"]+)":(?:"[^"]*|\d*)$/.exec(before)?.[1] ?? 'unknown';
  return `${type}.${key}, inside ${shape}`;
}

/** Planted protected values found in a text. Values under 4 characters would match by chance and are skipped. */
export function findPlanted(
  text: string,
  truth: GroundTruth,
  options: { skipTypes?: string[] } = {},
): string[] {
  const hits = new Set<string>();
  for (const p of truth.planted) {
    if (p.value.length < 4 || options.skipTypes?.includes(p.type)) continue;
    const match = text.includes(p.value) ? plantedPattern(p.value).exec(text) : null;
    if (match)
      hits.add(
        `${p.type} at ${p.institution}/${p.source} ${p.path}: found in ${describeMatch(text, match.index, p.value.length)}`,
      );
  }
  return [...hits];
}
