import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createKeyService } from './key-service';
import { revealsOriginal, surrogateFor, TAGS } from './surrogates';

/** 2,000 keys, as 2,000 installations would have: a surrogate is drawn per key. */
const keys = Array.from({ length: 2000 }, (_, i) =>
  createKeyService({ key: crypto.createHash('sha256').update(`surrogates-${i}`).digest(), keyId: `k${i}` }),
);

describe('surrogateFor', () => {
  it('never gives a name away, under any key: no shared character (Chinese) or word (other names)', () => {
    // Each original is made of dictionary parts, so a draw can land on them: before, 王 came back as 王 under 52 of
    // these keys and Vance as Vance under 59.
    const originals = ['王', '李明', '张子涵', '子涵', 'Vance', 'Alex Vance', 'ALEX  vance', 'Ｖａｎｃｅ'];
    const revealed: string[] = [];
    const tags: string[] = [];
    for (const original of originals) {
      for (const [k, key] of keys.entries()) {
        const s = surrogateFor(key, 'name', original, 'person-1');
        if (s === TAGS.name) tags.push(`${original} key ${k}`);
        else if (revealsOriginal('name', s, original)) revealed.push(`${original} -> ${s} (key ${k})`);
      }
    }
    expect(revealed).toEqual([]);
    // Redrawing ends in a tag only when 8 draws in a row share a part: not at these sizes.
    expect(tags).toEqual([]);
  });

  it('tells a shared name part from none', () => {
    expect(revealsOriginal('name', '王', '王')).toBe(true);
    expect(revealsOriginal('name', '王子涵', '王明')).toBe(true);
    expect(revealsOriginal('name', '赵明哲', '李明')).toBe(true);
    expect(revealsOriginal('name', '赵雨桐', '李明')).toBe(false);
    expect(revealsOriginal('name', 'Taylor Vance', 'alex VANCE')).toBe(true);
    expect(revealsOriginal('name', 'Taylor Vance', 'Ｖａｎｃｅ')).toBe(true);
    expect(revealsOriginal('name', 'Vanceford', 'Vance')).toBe(false);
    expect(revealsOriginal('name', 'Taylor Ashford', 'Alex Vance')).toBe(false);
  });

  it('never keeps an address’s street name, under any key', () => {
    const revealed: string[] = [];
    for (const original of ['12 Oakley Street', '7 OAKLEY st.', '北京市海淀区子涵路12号', '听澜路5号']) {
      for (const [k, key] of keys.entries()) {
        const s = surrogateFor(key, 'address', original, 'person-1');
        if (revealsOriginal('address', s, original)) revealed.push(`${original} -> ${s} (key ${k})`);
      }
    }
    expect(revealed).toEqual([]);
    expect(revealsOriginal('address', '880 Oakley Street', '12 Oakley Street')).toBe(true);
    expect(revealsOriginal('address', '12 Vance Street', '12 Oakley Street')).toBe(false);
    expect(revealsOriginal('address', '子涵路43号', '北京市海淀区子涵路12号')).toBe(true);
    expect(revealsOriginal('address', '雨桐路43号', '北京市海淀区子涵路12号')).toBe(false);
  });

  it('never returns the original value for other types, and stays the same for the same patient and value', () => {
    const key = keys[0];
    expect(revealsOriginal('mrn', 'MRN-AB23', 'mrn ab23')).toBe(true);
    expect(revealsOriginal('mrn', 'MRN-AB24', 'MRN-AB23')).toBe(false);
    // The only postal-code surrogate is 00000: an original 00000 ends as the tag, not as itself.
    expect(surrogateFor(key, 'postal-code', '00000')).toBe(TAGS['postal-code']);
    expect(surrogateFor(key, 'postal-code', '94122')).toBe('00000');
    expect(surrogateFor(key, 'name', '张子涵', 'p1')).toBe(surrogateFor(key, 'name', '张子涵', 'p1'));
    expect(surrogateFor(key, 'phone', '13812345678', 'p1')).toMatch(/^1[3-9]\d\*{4}\d{4}$/);
    // A Chinese landline was given a US 555 number until 2026-12-06.
    for (const landline of ['010-62345678', '(0571) 88881234', '+86 021 62345678'])
      expect(surrogateFor(key, 'phone', landline, 'p1'), landline).toMatch(/^0[1-9]\d-\*{4}\d{4}$/);
    expect(surrogateFor(key, 'phone', '(617) 555-0100', 'p1')).toMatch(/^555-555-01\d\d$/);
  });
});
