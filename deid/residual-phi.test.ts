import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createKeyService } from './key-service';
import { identifierCores, identifierPattern, matchKey, mayContainIdentifier, scanResidualPhi, unshiftedMonthDays } from './residual-phi';
import { foldWidth } from './identifiers';
import { scrubText } from './text-scrubber';
import type { FhirResource } from './types';

const keyService = createKeyService({ key: crypto.createHash('sha256').update('residual-phi-test').digest(), keyId: 'test' });
const note = (text: string): FhirResource => ({ resourceType: 'DocumentReference', description: text });
const attachment = (text: string): FhirResource => ({
  resourceType: 'DocumentReference',
  content: [{ attachment: { contentType: 'text/plain', data: Buffer.from(text).toString('base64') } }],
});

const NOTE_EN =
  'DISCHARGE SUMMARY\nAdmitted: 08/04/2024    Discharged: Aug 11, 2024\nSeen again Aug 6, improving. Follow-up with PCP on 8/18/24.\n' +
  'Started on enoxaparin 40 mg. Contact 395-679-3193.';
const NOTE_ZH = '入院日期：2024年6月21日  出院日期：2024-07-02\n诊疗经过：患者于6月21日入院，查钾3.8mmol/L。出院医嘱：门诊随诊，2024.7.21复查。三月七日复诊。';

describe('residual-PHI gate', () => {
  it('flags a bare ten-digit phone by rule and path, never the value', () => {
    const findings = scanResidualPhi(attachment('Daughter reachable at 5948684022.'), []);
    expect(findings).toEqual([{ rule: 'gate.us-phone-bare', path: 'DocumentReference.content[0].attachment.data' }]);
    expect(JSON.stringify(findings)).not.toContain('5948684022');
    expect(scanResidualPhi(note('家属电话13912345678'), []).map((f) => f.rule)).toEqual(['gate.cn-mobile']);
    // Codes written bare keep their number; a decimal is not a phone.
    expect(scanResidualPhi(note('NDC 5012345678, NPI: 2345678901, ratio 3.5948684022, t=1712345678'), [])).toEqual([]);
  });

  it('flags a month-day of the raw record that reached the output unshifted, in any form', () => {
    for (const [raw, out] of [
      ['arrived Nov 6 at 1924', 'arrived Nov 6 at 1924'],
      ['arrived Nov 6 at 1924', 'arrived nov  6 at 1924'],
      ['seen 6 Nov, improving', 'seen 6th of November, improving'],
      ['于3月7日入院', '于3月7号入院'],
      ['于三月七日入院', '于3月7日入院'],
      ['follow-up 03/04/2025', 'follow-up 03/04/2025'],
    ]) {
      const findings = scanResidualPhi(note(out), [], { unshiftedDates: unshiftedMonthDays(note(raw), 40) });
      expect(findings, raw).toEqual([{ rule: 'gate.unshifted-date', path: 'DocumentReference.description' }]);
    }
    // Shifted by the scrubber: nothing left to flag.
    for (const raw of ['arrived Nov 6 at 1924', '于三月七日入院', NOTE_EN, NOTE_ZH]) {
      const out = scrubText(raw, { keyService, dateOffsetDays: 40, locale: /[\u4e00-\u9fff]/.test(raw) ? 'zh' : 'en' }).text;
      expect(scanResidualPhi(note(out), [], { unshiftedDates: unshiftedMonthDays(note(raw), 40) }), raw).toEqual([]);
    }
  });

  it('does not flag a correctly shifted note at any offset (one date landing on another is not a leak)', () => {
    let flagged = 0;
    let pairs = 0;
    for (const raw of [NOTE_EN, NOTE_ZH]) {
      for (let offset = -365; offset <= 366; offset++) {
        if (offset === 0) continue;
        const out = scrubText(raw, { keyService, dateOffsetDays: offset, locale: /[\u4e00-\u9fff]/.test(raw) ? 'zh' : 'en' }).text;
        pairs++;
        if (scanResidualPhi(attachment(out), [], { unshiftedDates: unshiftedMonthDays(attachment(raw), offset) }).length) flagged++;
      }
    }
    expect(pairs).toBe(1462);
    expect(flagged).toBe(0);
  });

  it('runs identifier patterns only when a value may occur: the prefilter never hides a match', () => {
    const values = ["Mary-Jane O'Neil", 'Nguyen', 'Σοφία Παπαδοπούλου', 'Strauß', 'Yılmaz', '王小明', '110105194912310021', '555-867-5309', '1987-03-05', 'MRN 00123456', 'a.b@example.com'];
    const variants = (v: string): string[] => [
      v,
      v.toUpperCase(),
      v.toLowerCase(),
      v.replace(/(.)/g, '$1 ').trim(),
      v.replace(/[\s-]/g, '.'),
      v.replace(/\s/g, ', '),
      v.replace(/[0-9A-Za-z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0)),
      v.split('').join('-'),
      v.replace(/ς/g, 'σ').replace(/σ/g, 'ς'),
      v.replace(/ß/g, 'SS'),
    ];
    const re = identifierPattern(values)!;
    const cores = identifierCores(values);
    let matched = 0;
    let checked = 0;
    for (const v of values) {
      for (const x of variants(v)) {
        for (const text of [x, `seen ${x} today`, `(${x})`, `x${x}`]) {
          const folded = foldWidth(text);
          checked++;
          if (re.test(folded)) {
            matched++;
            expect(mayContainIdentifier(matchKey(folded), cores), text).toBe(true);
          }
        }
      }
    }
    expect(checked).toBe(440);
    expect(matched).toBeGreaterThan(150);
    expect(mayContainIdentifier(matchKey('no identifiers in this sentence'), cores)).toBe(false);
  });
});
