import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createKeyService } from './key-service';
import {
  collectIdentifiers,
  literalForms,
  monthDaysOf,
  scanResidualPhi,
  unshiftedMonthDays,
} from './residual-phi';
import { readsAsOwnIdentifier, scrubText } from './text-scrubber';
import type { FhirResource } from './types';

const keyService = createKeyService({
  key: crypto.createHash('sha256').update('residual-phi-test').digest(),
  keyId: 'test',
});
const note = (text: string): FhirResource => ({ resourceType: 'DocumentReference', description: text });
const attachment = (text: string): FhirResource => ({
  resourceType: 'DocumentReference',
  content: [{ attachment: { contentType: 'text/plain', data: Buffer.from(text).toString('base64') } }],
});

const NOTE_EN =
  'DISCHARGE SUMMARY\nAdmitted: 08/04/2024    Discharged: Aug 11, 2024\nSeen again Aug 6, improving. Follow-up with PCP on 8/18/24.\n' +
  'Started on enoxaparin 40 mg. Contact 395-679-3193.';
const NOTE_ZH =
  '入院日期：2024年6月21日  出院日期：2024-07-02\n诊疗经过：患者于6月21日入院，查钾3.8mmol/L。出院医嘱：门诊随诊，2024.7.21复查。三月七日复诊。';

describe('residual-PHI gate', () => {
  it('flags a bare ten-digit phone by rule and path, never the value', () => {
    const findings = scanResidualPhi(attachment('Daughter reachable at 5948684022.'), []);
    expect(findings).toEqual([
      { rule: 'gate.us-phone-bare', path: 'DocumentReference.content[0].attachment.data' },
    ]);
    expect(JSON.stringify(findings)).not.toContain('5948684022');
    expect(scanResidualPhi(note('家属电话13912345678'), []).map((f) => f.rule)).toEqual(['gate.cn-mobile']);
    // A VIN by its check character; the same run with another check character is not one.
    expect(scanResidualPhi(note('towed car 1HGCM82633A004352'), []).map((f) => f.rule)).toEqual(['gate.vin']);
    expect(scanResidualPhi(note('towed car 1HGCM82633A004353'), []).map((f) => f.rule)).toEqual([]);
    // A Medicare Beneficiary Identifier by its shape; B is not among its letters.
    expect(scanResidualPhi(note('MBI 1EG4-TE5-MK73'), []).map((f) => f.rule)).toEqual(['gate.us-mbi']);
    expect(scanResidualPhi(note('lot 1EB4-TE5-MK73'), []).map((f) => f.rule)).toEqual([]);
    // Codes written bare keep their number; a decimal is not a phone.
    expect(
      scanResidualPhi(note('NDC 5012345678, NPI: 2345678901, ratio 3.5948684022, t=1712345678'), []),
    ).toEqual([]);
  });

  it('flags a month-day of the raw record that reached the output unshifted, in any form', () => {
    for (const [raw, out] of [
      ['arrived Nov 6 at 1924', 'arrived Nov 6 at 1924'],
      ['arrived Nov 6 at 1924', 'arrived nov  6 at 1924'],
      ['seen 6 Nov, improving', 'seen 6th of November, improving'],
      ['于3月7日入院', '于3月7号入院'],
      ['于三月七日入院', '于3月7日入院'],
      ['follow-up 03/04/2025', 'follow-up 03/04/2025'],
      ['于2016--10--1入院', '于2016--10--1入院'],
    ]) {
      const findings = scanResidualPhi(note(out), [], { unshiftedDates: unshiftedMonthDays(note(raw), 40) });
      expect(findings, raw).toEqual([{ rule: 'gate.unshifted-date', path: 'DocumentReference.description' }]);
    }
    // Shifted by the scrubber: nothing left to flag.
    for (const raw of ['arrived Nov 6 at 1924', '于三月七日入院', NOTE_EN, NOTE_ZH]) {
      const out = scrubText(raw, {
        keyService,
        dateOffsetDays: 40,
        locale: /[\u4e00-\u9fff]/.test(raw) ? 'zh' : 'en',
      }).text;
      expect(
        scanResidualPhi(note(out), [], { unshiftedDates: unshiftedMonthDays(note(raw), 40) }),
        raw,
      ).toEqual([]);
    }
  });

  it('does not flag a correctly shifted note at any offset (one date landing on another is not a leak)', () => {
    let flagged = 0;
    let pairs = 0;
    for (const raw of [NOTE_EN, NOTE_ZH]) {
      for (let offset = -365; offset <= 366; offset++) {
        if (offset === 0) continue;
        const out = scrubText(raw, {
          keyService,
          dateOffsetDays: offset,
          locale: /[\u4e00-\u9fff]/.test(raw) ? 'zh' : 'en',
        }).text;
        pairs++;
        if (
          scanResidualPhi(attachment(out), [], {
            unshiftedDates: unshiftedMonthDays(attachment(raw), offset),
          }).length
        )
          flagged++;
      }
    }
    expect(pairs).toBe(1462);
    expect(flagged).toBe(0);
  });

  it("does not read another date as the patient's birth date (1/2/1993 in 08/12/1993), at any offset", () => {
    const patient: FhirResource = {
      resourceType: 'Patient',
      id: 'p1',
      birthDate: '1993-01-02',
      name: [{ family: 'Robinson', given: ['Nancy'] }],
    };
    const identifiers = collectIdentifiers(patient);
    const raw = 'DISCHARGE SUMMARY\nPatient: Nancy Robinson    DOB: 01/02/1993\nAdmitted: 09/11/2024\n';
    const flaggedAt: number[] = [];
    for (let offset = -365; offset <= 366; offset++) {
      if (offset === 0) continue;
      const out = scrubText(raw, { keyService, identifiers, dateOffsetDays: offset, locale: 'en' }).text;
      if (scanResidualPhi(attachment(out), identifiers).length) flaggedAt.push(offset);
    }
    // Offset 222 wrote the birth date as 08/12/1993, whose "12/1993" read as 1/2/1993 with its separator dropped.
    expect(flaggedAt).toEqual([]);
    // The birth date itself, in every way it is written, is still found.
    for (const written of [
      '1/2/1993',
      '1-2-1993',
      '1 / 2 / 1993',
      '01/02/1993',
      '01021993',
      '1993-01-02',
      '1993年1月2日',
    ])
      expect(scanResidualPhi(note(`DOB ${written}.`), identifiers), written).toMatchObject([
        { rule: 'gate.record-identifier:birth-date' },
      ]);
  });

  it("does not read a date and time as the patient's postal code (100507 in 2025-10-05 07:18)", () => {
    const patient: FhirResource = {
      resourceType: 'Patient',
      id: 'p2',
      address: [{ postalCode: '100507' }, { postalCode: '94122-1234' }],
    };
    const identifiers = collectIdentifiers(patient);
    for (const clean of ['记录时间：2025-10-05 07:18', 'seen 10.05.07', 'ref 1005 07'])
      expect(scanResidualPhi(note(clean), identifiers), clean).toEqual([]);
    for (const written of [
      '邮编100507',
      '邮编 100507。',
      'ZIP 94122-1234',
      'ZIP 94122 1234',
      'ZIP 94122 - 1234',
    ])
      expect(scanResidualPhi(note(written), identifiers), written).toMatchObject([
        { rule: 'gate.record-identifier:postal-code' },
      ]);
  });

  it('finds each identifier type by its own pattern, built on first use, after clean strings and in FHIR-date-shaped strings', () => {
    const patient: FhirResource = {
      resourceType: 'Patient',
      identifier: [{ value: 'MRN-0012345' }],
      name: [{ family: 'Okonkwo', given: ['Adaeze'] }],
      telecom: [{ value: '617-555-2323' }],
      address: [{ line: ['42 Wallaby Way'], city: 'Springfield', postalCode: '02139' }],
      birthDate: '1987-03-05',
    };
    const ids = collectIdentifiers(patient);
    // The same identifiers array throughout: its compiled patterns and clean-string cache are shared, as in a batch.
    const scan = (text: string) => scanResidualPhi(note(text), ids).map((f) => f.rule);
    expect(scan('Encounter Diagnosis')).toEqual([]);
    expect(scan('Encounter Diagnosis')).toEqual([]);
    expect(scan('seen with OKONKWO, adaeze today')).toEqual(['gate.record-identifier:name']);
    expect(scan('mrn 0012345')).toEqual(['gate.record-identifier:identifier']);
    expect(scan('lives at 42 wallaby   way')).toEqual(['gate.record-identifier:address']);
    expect(scan('ＳＰＲＩＮＧＦＩＥＬＤ')).toEqual(['gate.record-identifier:city']);
    // One finding per type in one string, in the identifiers' type order.
    expect(scan('Adaeze Okonkwo, MRN-0012345, Springfield').sort()).toEqual(
      [
        'gate.record-identifier:city',
        'gate.record-identifier:identifier',
        'gate.record-identifier:name',
      ].sort(),
    );
    // An unshifted birth date is a FHIR date (no pattern rule applies to one), but still the record's own.
    expect(scan('1987-03-05')).toEqual(['gate.record-identifier:birth-date']);
    expect(scan('2019-05-04T10:00:00-05:00')).toEqual([]);
    // A FHIR date is only checked against cores it can hold (digits, T, Z, ':', '+'): a digits-only ID still counts.
    const numeric = collectIdentifiers({
      resourceType: 'Patient',
      identifier: [{ value: '20190504' }, { value: 'ZT-1234:5' }],
    });
    expect(scanResidualPhi(note('2019-05-04'), numeric).map((f) => f.rule)).toEqual([
      'gate.record-identifier:identifier',
    ]);
    expect(scanResidualPhi(note('2019-05-04T10:00:00Z'), numeric).map((f) => f.rule)).toEqual([]);
    // A record number shorter than a whole date only coincides with part of one (the Tianchi MRN 2018 and a
    // check-up shifted into 2018); in text it is still the record's own.
    const short = collectIdentifiers({
      resourceType: 'Patient',
      identifier: [{ value: '2018' }, { value: '1009' }],
    });
    for (const date of ['2018-10-09', '2018-10-09T08:00:00+08:00', '2018'])
      expect(scanResidualPhi(note(date), short), date).toEqual([]);
    expect(scanResidualPhi(note('MRN 2018'), short).map((f) => f.rule)).toEqual([
      'gate.record-identifier:identifier',
    ]);
    // Patterns still apply to strings no identifier can be in.
    expect(scan('call 212-555-7788')).toEqual(['gate.us-phone']);
  });

  it("reads a surrogate as the record's own identifier through case, spacing and width, and only then", () => {
    const ids = collectIdentifiers({
      resourceType: 'Patient',
      name: [
        { family: '徐', given: ['子涵'] },
        { family: 'Okonkwo', given: ['Adaeze'] },
      ],
      address: [{ line: ['42 Wallaby Way'] }],
    });
    const reads = readsAsOwnIdentifier(ids);
    for (const own of ['子涵路43号', '子 涵路', 'okonkwo', 'Mr ＯＫＯＮＫＷＯ', '42 WALLABY, WAY'])
      expect(reads(own), own).toBe(true);
    for (const other of ['子路43号', 'Okonkwoe', 'Smith', '43 Wallaby Street', ''])
      expect(reads(other), other).toBe(false);
  });

  it('reads month names only beside whitespace or a dash: base64 and codes have neither, every written form still counts', () => {
    for (const [text, days] of [
      ['Nov 6', ['11-6']],
      ['nov-6', ['11-6']],
      ['6-Nov', ['11-6']],
      ['6th of\tNovember', ['11-6']],
      ['Nov.\u00a06', ['11-6']],
      ['Nov6 6Nov', []],
      ['TWF5IDEyLCAyMDI0Nov6', []],
    ] as const) {
      expect([...monthDaysOf(text)].sort(), text).toEqual([...days]);
    }
    // Numeric dates need digit, separator, one or two digits, separator, digit; UUIDs and codes are skipped unread.
    for (const [text, days] of [
      ['2024/05/04', ['5-4']],
      ['on 2024.5.4.', ['5-4']],
      ['于2016--10--1 14：50', ['10-1']],
      ['1976-01-19T22:58:16-05:00', ['1-19']],
      ['03-04-2025', ['3-4', '4-3']],
      ['x 3.4.21 y', ['3-4', '4-3']],
      ['1/2/24', ['1-2', '2-1']],
      ['0023b3a7-2ded-840c-ee5b-6b123fdcfb0b', []],
      ['34117-2', []],
      ['1-2 and 3-4', []],
      ['12-/3-4', []],
      // Ranges of values in a drug label (HUMIRA's, ../shared/data): not dates, so not a reason to quarantine it.
      ['4.28-17.7 µg/mL in infant blood', []],
      ['0.16-19.7 µg/mL', []],
      ['03/04-2025', []],
    ] as const) {
      expect([...monthDaysOf(text)].sort(), text).toEqual([...days].sort());
    }
    const b64 = Buffer.from('Seen Nov 6, and 2024/05/04.').toString('base64');
    // The base64 text itself reads as nothing; its decoded text is read through the attachment.
    expect([...monthDaysOf(b64)]).toEqual([]);
    expect([...monthDaysOf(attachment('Seen Nov 6, and 2024/05/04.'))].sort()).toEqual(['11-6', '5-4']);
  });

  it("flags the resource's own identifier written anywhere, any case or width, as a word of its own", () => {
    const literals = literalForms(['ENC-00012345', 'abc']);
    const scan = (text: string) => scanResidualPhi(note(text), [], { literals }).map((f) => f.rule);
    for (const text of [
      'ENC-00012345',
      'see enc-00012345.',
      'ＥＮＣ－00012345'.replace('－', '-'),
      'xENC-00012345 then ENC-00012345',
    ]) {
      expect(scan(text), text).toEqual(['gate.record-identifier:resource']);
    }
    for (const text of ['xENC-00012345', 'ENC-000123456', 'ENC 00012345', 'abc'])
      expect(scan(text), text).toEqual([]);
  });
});
