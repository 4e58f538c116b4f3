import { describe, expect, it } from 'vitest';
import { foldWidth } from './identifiers';
import {
  canonicalUnit,
  identifierCores,
  identifierMatches,
  identifierPattern,
  matchKey,
  mayContainIdentifier,
  numericFormOf,
} from './identifier-match';

/** The matches a global scan with the regex finds: identifierMatches must find exactly these. */
function regexMatches(values: string[], type: string, text: string): string {
  const re = identifierPattern(values, { global: true, form: numericFormOf(type) });
  return re ? [...text.matchAll(re)].map((m) => `${m.index}-${m.index + m[0].length}`).join(',') : '';
}

function directMatches(values: string[], type: string, text: string): string {
  const t = { type, values, cores: identifierCores(values) };
  return identifierMatches(t, text, matchKey(text))
    .map((m) => `${m.start}-${m.end}`)
    .join(',');
}

const VALUES = [
  "Mary-Jane O'Neil",
  'Nguyen',
  'Σοφία Παπαδοπούλου',
  'Strauß',
  'Yılmaz',
  '王小明',
  '𠀀𠀁明',
  'Smith,',
  ',Lee',
  '-Dash',
  'ǅemal ɓa',
  '110105194912310021',
  '555-867-5309',
  '1987-03-05',
  '3/5/1987',
  '1987年3月5日',
  '94122-1234',
  'MRN 00123456',
  'a.b@example.com',
];

const variants = (v: string): string[] => [
  v,
  v.toUpperCase(),
  v.toLowerCase(),
  v.replace(/(.)/g, '$1 ').trim(),
  v.replace(/[\s-]/g, '.'),
  v.replace(/\s/g, ', '),
  v.replace(/\s/g, ' ,  '),
  v.replace(/\s/g, '    '),
  v.replace(/[0-9A-Za-z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0)),
  v.split('').join('-'),
  v.replace(/ς/g, 'σ').replace(/σ/g, 'ς'),
  v.replace(/ß/g, 'SS'),
  v.replace(/-/g, ''),
  `${v},`,
  `-${v}`,
];

const contexts = (x: string): string[] => [
  x,
  `seen ${x} today`,
  `(${x})`,
  `x${x}`,
  `${x}y`,
  `${x}ɓ`,
  `İ${x}ı`,
  `a ${x}, b ${x}`,
  `${x}${x}`,
];

describe('identifierCores', () => {
  it('never hides a match: whatever the pattern matches, the text holds one of the cores', () => {
    const re = identifierPattern(VALUES)!;
    const cores = identifierCores(VALUES);
    let matched = 0;
    let checked = 0;
    for (const v of VALUES) {
      for (const x of variants(v)) {
        for (const text of contexts(x)) {
          const folded = foldWidth(text);
          checked++;
          if (re.test(folded)) {
            matched++;
            expect(mayContainIdentifier(matchKey(folded), cores), text).toBe(true);
          }
        }
      }
    }
    expect(checked).toBe(VALUES.length * 15 * 9);
    expect(matched).toBeGreaterThan(checked / 3);
    expect(mayContainIdentifier(matchKey('no identifiers in this sentence'), cores)).toBe(false);
  });
});

describe('identifierMatches', () => {
  it('finds exactly what a global scan with identifierPattern finds, for every type and written form', () => {
    let compared = 0;
    let found = 0;
    for (const type of ['name', 'identifier', 'birth-date', 'postal-code']) {
      for (const v of VALUES) {
        const values = [v, ...VALUES.filter((o) => o !== v).slice(0, 3)];
        for (const x of variants(v)) {
          for (const text of contexts(x)) {
            const folded = foldWidth(text);
            const want = regexMatches(values, type, folded);
            expect(directMatches(values, type, folded), `${type} ${JSON.stringify(text)}`).toBe(want);
            compared++;
            if (want) found++;
          }
        }
      }
    }
    expect(compared).toBe(4 * VALUES.length * 15 * 9);
    expect(found).toBeGreaterThan(compared / 3);
  });

  it('agrees with the regex on random text built from the values, separators and neighbouring letters', () => {
    // Deterministic pseudo-random strings: pieces of values with case changes, separators in runs of 0-5, word
    // characters on either side; the cases a hand-written list misses.
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const separators = [' ', '-', '.', '/', ',', '\n', '\u3000', '\u00a0'];
    const neighbours = ['a', 'Z', '7', 'é', 'ɓ', '王', ':', '(', ''];
    let found = 0;
    for (let i = 0; i < 4000; i++) {
      const values = [VALUES[rand(VALUES.length)], VALUES[rand(VALUES.length)]];
      const type = ['name', 'identifier', 'birth-date', 'postal-code'][rand(4)];
      let text = neighbours[rand(neighbours.length)];
      for (const ch of values[rand(2)]) {
        text += rand(4) === 0 ? ch.toUpperCase() : rand(4) === 0 ? ch.toLowerCase() : ch;
        if (rand(3) === 0) for (let s = rand(6); s > 0; s--) text += separators[rand(separators.length)];
      }
      text += neighbours[rand(neighbours.length)];
      text = rand(2) ? `${text} ${text}` : text;
      const folded = foldWidth(text);
      const want = regexMatches(values, type, folded);
      if (want) found++;
      expect(
        directMatches(values, type, folded),
        `${type} ${JSON.stringify(values)} ${JSON.stringify(text)}`,
      ).toBe(want);
    }
    expect(found).toBeGreaterThan(400);
  });

  it('stops at the first match when asked whether there is one', () => {
    const t = { type: 'name', values: ['Nguyen'], cores: identifierCores(['Nguyen']) };
    const text = 'Nguyen and NGUYEN';
    expect(identifierMatches(t, text, matchKey(text))).toHaveLength(2);
    expect(identifierMatches(t, text, matchKey(text), 1)).toEqual([{ start: 0, end: 6 }]);
    expect(identifierMatches(t, 'no one here', matchKey('no one here'))).toEqual([]);
  });

  it('compares characters as a case-insensitive regex without the u flag does, over the whole BMP', () => {
    const byCanonical = new Map<number, number[]>();
    for (let c = 0; c < 65536; c++) {
      const k = canonicalUnit(c);
      byCanonical.set(k, [...(byCanonical.get(k) ?? []), c]);
    }
    let checked = 0;
    for (let c = 0; c < 65536; c++) {
      if (c >= 0xd800 && c <= 0xdfff) continue;
      const re = new RegExp(`^\\u${c.toString(16).padStart(4, '0')}$`, 'i');
      const ch = String.fromCharCode(c);
      const others = new Set([
        ...byCanonical.get(canonicalUnit(c))!,
        ch.toUpperCase().charCodeAt(0),
        ch.toLowerCase().charCodeAt(0),
      ]);
      for (const d of others) {
        checked++;
        if (re.test(String.fromCharCode(d)) !== (canonicalUnit(c) === canonicalUnit(d)))
          expect.fail(`U+${c.toString(16)} against U+${d.toString(16)}`);
      }
    }
    expect(checked).toBeGreaterThan(65000);
  });
});
