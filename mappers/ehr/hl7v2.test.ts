import iconv from 'iconv-lite';
import { basename, join } from 'node:path';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { patientStableId } from '../ids';
import { byType, expectReconciled, sample, sampleFiles } from '../test-support/data';
import { mapFile } from '../index';
import type { FhirResource, MapContext, MapResult } from '../types';
import { mapHl7v2 } from './hl7v2';

const ctx: MapContext = { institution: 'test-inst', sourceFile: 'test.hl7', timezone: 'Asia/Shanghai' };
const CR = '\r';

function oru(extra = ''): string {
  return [
    'MSH|^~\\&|LAB|FAC|TRIB|FAC|20240305081500||ORU^R01^ORU_R01|CTRL-1|P|2.5.1',
    'PID|1||MRN001^^^HOSP^MR~110101199003071234^^^CHN^NNCHN||Doe^Jane^Q~Smith^Jane^^^^^M||19900307|F|||1 Main St^^Springfield^IL^62701^USA^H||^PRN^PH^^^217^5550100',
    'PV1|1|I|W1^101^A||||||||||||||||V123|||||||||||||||||||||||||20240301090000+0800',
    'OBR|1|PL1|FL1|24323-8^Comprehensive metabolic panel^LN|||20240305070000|||||||||||||||20240305080000||CH|F',
    'OBX|1|NM|2345-7^Glucose^LN||5.6|mmol/L^^UCUM|3.9-6.1|N|||F|||20240305070000',
    'OBX|2|ST|8251-1^Note^LN||Fasting \\T\\ rested\\.br\\second line||||||F',
    'OBX|3|CWE|5778-6^Color^LN||YEL^Yellow^L||||||F',
    'ZPI|1|custom|stuff',
    extra,
  ]
    .filter(Boolean)
    .join(CR);
}

describe('mapHl7v2 on constructed messages', () => {
  it('maps PID repetitions, identifiers, UCUM quantities, escapes and Z-segments (CR separators)', () => {
    const r = mapHl7v2(Buffer.from(oru()), ctx);
    expectReconciled(r);
    expect(r.recordsMapped).toBe(1);
    const [patient] = byType(r, 'Patient');
    expect(patient.id).toBe(patientStableId('test-inst', 'MRN001'));
    expect(patient.id).not.toContain('MRN001');
    expect(patient.name).toEqual([
      { family: 'Doe', given: ['Jane', 'Q'] },
      { use: 'maiden', family: 'Smith', given: ['Jane'] },
    ]);
    expect(patient.identifier).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ system: 'urn:tributary:test-inst:mrn', value: 'MRN001' }),
        expect.objectContaining({ system: 'urn:tributary:cn-resident-id', value: '110101199003071234' }),
      ]),
    );
    expect(patient.gender).toBe('female');
    expect(patient.birthDate).toBe('1990-03-07');
    const obs = byType(r, 'Observation');
    expect(obs).toHaveLength(3);
    expect(obs[0].valueQuantity).toEqual({
      value: 5.6,
      unit: 'mmol/L',
      system: 'http://unitsofmeasure.org',
      code: 'mmol/L',
    });
    expect(obs[0].code).toEqual({
      coding: [{ code: '2345-7', system: 'http://loinc.org', display: 'Glucose' }],
      text: 'Glucose',
    });
    expect(obs[0].referenceRange).toEqual([
      {
        low: expect.objectContaining({ value: 3.9, code: 'mmol/L' }),
        high: expect.objectContaining({ value: 6.1 }),
      },
    ]);
    // Local time without offset takes the institution's zone.
    expect(obs[0].effectiveDateTime).toBe('2024-03-05T07:00:00+08:00');
    expect(obs[1].valueString).toBe('Fasting & rested\nsecond line');
    expect(obs[2].valueCodeableConcept).toMatchObject({
      coding: [{ code: 'YEL', system: 'urn:tributary:test-inst:codes:L' }],
    });
    const [report] = byType(r, 'DiagnosticReport');
    expect(report.result).toEqual(obs.map((o) => ({ reference: `Observation/${o.id}` })));
    expect(report.subject).toEqual({ reference: `Patient/${patient.id}` });
    const [enc] = byType(r, 'Encounter');
    expect(enc.class).toMatchObject({ code: 'IMP' });
    const [prov] = byType(r, 'Provenance');
    expect((prov.target as unknown[]).length).toBe(r.resources.length - 1);
  });

  it('recognises national IDs typed NI: Chinese resident ID or SSN by shape (generator feeds)', () => {
    const msg = oru().replace(
      '110101199003071234^^^CHN^NNCHN',
      '320106193402030037^^^CHN^NI~139-42-0274^^^SSA^SS',
    );
    const [patient] = byType(mapHl7v2(Buffer.from(msg), ctx), 'Patient');
    expect(patient.identifier).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ system: 'urn:tributary:cn-resident-id', value: '320106193402030037' }),
        expect.objectContaining({ system: 'urn:oid:2.16.840.1.113883.4.1', value: '139-42-0274' }),
      ]),
    );
  });

  it('gives the same ids on a re-run', () => {
    const a = mapHl7v2(Buffer.from(oru()), ctx).resources.map((x) => x.id);
    const b = mapHl7v2(Buffer.from(oru()), ctx).resources.map((x) => x.id);
    expect(a).toEqual(b);
    expect(new Set(a).size).toBe(a.length);
  });

  it('decodes GB 18030 per MSH-18 and keeps Chinese names', () => {
    const text = [
      'MSH|^~\\&|HIS|医院|TRIB|FAC|20240305081500||ADT^A01^ADT_A01|C2|P|2.5|||||CHN|GB 18030',
      'PID|1||ZY0001^^^HIS^MR||张^三丰||19800101|M',
      'PV1|1|I',
    ].join(CR);
    const r = mapHl7v2(iconv.encode(text, 'gb18030'), ctx);
    expectReconciled(r);
    expect(byType(r, 'Patient')[0].name).toEqual([{ family: '张', given: ['三丰'] }]);
  });

  it('maps a merge (A40) with a link to the prior patient', () => {
    const r = mapHl7v2(sample('hl7v2', 'ADT-A40-01.hl7'), ctx);
    const [p] = byType(r, 'Patient');
    expect(p.link).toEqual([
      { other: { reference: `Patient/${patientStableId('test-inst', '56789')}` }, type: 'replaces' },
    ]);
  });

  it('rejects a truncated message with a location and keeps the rest of the file', () => {
    const good = oru();
    const truncated = 'MSH|^~\\&|LAB|FAC|TRIB|FAC|2024030508||ORU^R01|CTRL-2|P|2.5.1\rPID|1||MRN9^^^H^MR||Do';
    const noPid = 'MSH|^~\\&|LAB|FAC|TRIB|FAC|20240305||ORU^R01|CTRL-3|P|2.5.1';
    const badNumber = good.replace('CTRL-1', 'CTRL-4').replace('|5.6|', '|five|');
    const r = mapHl7v2(Buffer.from([good, truncated, noPid, badNumber].join(CR)), ctx);
    expectReconciled(r);
    expect(r.recordsIn).toBe(4);
    // The truncated one still has a PID with an identifier: it maps; the one without PID and the bad NM do not.
    expect(r.recordsRejected).toBe(2);
    const locations = r.issues.map((i) => i.location?.[0]);
    expect(locations).toContain('test.hl7:message 3 (line 11):PID');
    expect(r.issues.find((i) => i.diagnostics?.includes('not a number'))?.location?.[0]).toMatch(
      /message 4 .*OBX-5 \(line \d+\)/,
    );
    // Never the value in an error.
    expect(JSON.stringify(r.issues)).not.toContain('five');
  });

  it('reports garbage (not HL7) instead of dropping it', () => {
    const r = mapHl7v2(Buffer.from('hello\nworld\n'), ctx);
    expectReconciled(r);
    expect(r.recordsRejected).toBe(1);
    expect(r.issues[0].location?.[0]).toBe('test.hl7:line 1');
  });

  it('survives a 50 MB single line', () => {
    const big =
      'MSH|^~\\&|A|B|C|D|20240101||ADT^A01|X|P|2.5\rPID|1||M1^^^H^MR||' + 'x'.repeat(50 * 1024 * 1024);
    const r = mapHl7v2(Buffer.from(big), { ...ctx, validate: false });
    expectReconciled(r);
    expect(r.recordsIn).toBe(1);
  });
});

describe('mapHl7v2 on every real sample', () => {
  const files = sampleFiles('hl7v2', '.hl7');
  it('finds the samples', () => expect(files.length).toBeGreaterThan(100));

  it('maps every file with reconciled counts and valid references', () => {
    let mapped = 0;
    for (const f of files) {
      const r = mapHl7v2(readFileSync(f), {
        institution: 'test-inst',
        sourceFile: basename(f),
        timezone: 'America/New_York',
      });
      expectReconciled(r);
      mapped += r.recordsMapped;
      const ids = new Set(r.resources.map((x) => `${x.resourceType}/${x.id}`));
      for (const res of r.resources) {
        const subj = (res.subject ?? res.patient) as { reference?: string } | undefined;
        if (subj?.reference) expect(ids.has(subj.reference)).toBe(true);
      }
    }
    expect(mapped).toBeGreaterThanOrEqual(files.length - 2);
  });

  it('maps VXU to Immunization, RDE to MedicationRequest, MDM^T02 to DocumentReference, ORM to ServiceRequest', () => {
    const vxu = mapHl7v2(sample('hl7v2', 'VXU-V04-01.hl7'), ctx);
    const [imm] = byType(vxu, 'Immunization');
    expect(imm).toMatchObject({ status: 'completed', occurrenceDateTime: '2021-08-18', lotNumber: '315841' });
    expect(imm.vaccineCode).toMatchObject({
      coding: [{ system: 'http://hl7.org/fhir/sid/ndc', code: '49281021588' }],
    });
    expect(imm.doseQuantity).toEqual({
      value: 0.5,
      unit: 'mL',
      system: 'http://unitsofmeasure.org',
      code: 'mL',
    });

    const rde = mapHl7v2(sample('hl7v2', 'RDE-O11-01.hl7'), ctx);
    const [mr] = byType(rde, 'MedicationRequest');
    expect(mr).toMatchObject({ status: 'active', intent: 'order' });
    expect((mr.medicationCodeableConcept as { coding: { system: string }[] }).coding[0].system).toBe(
      'http://hl7.org/fhir/sid/ndc',
    );

    const mdm = mapHl7v2(sample('hl7v2', 'MDM-T02-02.hl7'), ctx);
    const [doc] = byType(mdm, 'DocumentReference');
    const att = (doc.content as { attachment: { contentType: string; data: string } }[])[0].attachment;
    expect(att.contentType).toContain('text/plain');
    expect(Buffer.from(att.data, 'base64').toString('utf8')).toContain('Toilet cylinder crackers');

    const orm = mapHl7v2(sample('hl7v2', 'ORM-O01-01.hl7'), ctx);
    const [sr] = byType(orm, 'ServiceRequest');
    expect(sr).toMatchObject({
      intent: 'order',
      status: 'active',
      code: { coding: [{ system: 'http://loinc.org', code: '24725-4' }] },
    });
    const patients: FhirResource[] = byType(orm, 'Patient');
    expect((patients[0].name as unknown[]).length).toBe(2);
  });
});

describe('mapHl7v2: allergies, diagnoses, procedures, coverage, next of kin and notes', () => {
  // Until 2026-12-06 these segments were read by nothing and said nowhere: the samples' 33 allergies, 50 diagnoses,
  // 26 procedures, 41 insurances, 33 next of kin and their 211 notes were lost without an issue.
  const adt = [
    'MSH|^~\\&|ADT|FAC|TRIB|FAC|20240305081500||ADT^A01|CTRL-9|P|2.5.1',
    'EVN|A01|20240305081500',
    'PID|1||MRN9^^^HOSP^MR||Doe^Jane||19900307|F',
    'NK1|1|Doe^John|SPO^Spouse^HL70063|1 Main St^^Springfield^IL^62701|^PRN^PH^^^217^5550101',
    'NK1|2||MTH^Mother^HL70063',
    'PV1|1|I|W1^101^A||||||||||||||||V9',
    'AL1|1|DA|70618^Penicillin^RXNORM|SV|Hives~Wheezing|20200115',
    'AL1|2|FA|^Peanuts',
    'DG1|1||I10^Essential hypertension^I10||20240301|A',
    'DG1|2||^^^||20240301|W',
    'PR1|1||0DTJ4ZZ^Appendectomy^I10P||20240302103000',
    'NTE|1||Uncomplicated',
    'GT1|1||Doe^John',
    'IN1|1|BAV^Blue Advantage HMO|IC-1^^^HOSP|Blue Cross||||GRP-9|Acme Widgets Group|||20240101|20241231||HMO^health maintenance organization||SPO',
    'IN1|2|PLAN2',
  ].join(CR);

  it('maps AL1, DG1, PR1 and NK1, a note to what it comments on, and says which segments are not mapped', () => {
    const r = mapHl7v2(Buffer.from(adt), ctx);
    // DG1|2 has no code: the message is rejected with the field, as a required field is elsewhere.
    expect(r.recordsRejected).toBe(1);
    expect(r.issues.map((i) => i.diagnostics)).toEqual(['DG1-3 diagnosis code is empty']);
    expect(r.issues[0].location).toEqual([expect.stringContaining('DG1-3 (line 10)')]);

    const ok = mapHl7v2(Buffer.from(adt.replace('DG1|2||^^^||20240301|W\r', '')), ctx);
    expectReconciled(ok);
    const [patient] = byType(ok, 'Patient');
    expect(patient.contact).toEqual([
      {
        relationship: [
          { coding: [{ code: 'SPO', system: expect.any(String), display: 'Spouse' }], text: 'Spouse' },
        ],
        name: { family: 'Doe', given: ['John'] },
        telecom: [{ system: 'phone', value: '2175550101', use: 'home' }],
        address: { line: ['1 Main St'], city: 'Springfield', state: 'IL', postalCode: '62701' },
      },
    ]);
    const [penicillin, peanuts] = byType(ok, 'AllergyIntolerance');
    expect(penicillin).toMatchObject({
      clinicalStatus: { coding: [{ code: 'active' }] },
      category: ['medication'],
      criticality: 'high',
      code: { coding: [{ code: '70618', display: 'Penicillin' }] },
      patient: { reference: `Patient/${patient.id}` },
      reaction: [{ manifestation: [{ text: 'Hives' }, { text: 'Wheezing' }] }],
      onsetDateTime: '2020-01-15',
    });
    expect(peanuts).toMatchObject({ category: ['food'], code: { text: 'Peanuts' } });
    const [condition] = byType(ok, 'Condition');
    expect(condition).toMatchObject({
      category: [{ coding: [{ code: 'encounter-diagnosis' }] }],
      code: { coding: [{ code: 'I10', display: 'Essential hypertension' }] },
      onsetDateTime: '2024-03-01',
      encounter: { reference: expect.stringMatching(/^Encounter\//) },
    });
    const [procedure] = byType(ok, 'Procedure');
    expect(procedure).toMatchObject({
      status: 'completed',
      code: { coding: [{ code: '0DTJ4ZZ' }] },
      performedDateTime: '2024-03-02T10:30:00+08:00',
      note: [{ text: 'Uncomplicated' }],
    });
    // The payer, plan, period and relationship; not the group, which names the insured's employer's group.
    const [coverage] = byType(ok, 'Coverage');
    expect(coverage).toMatchObject({
      status: 'active',
      beneficiary: { reference: `Patient/${patient.id}` },
      payor: [{ identifier: { value: 'IC-1' }, display: 'Blue Cross' }],
      class: [{ type: { coding: [{ code: 'plan' }] }, value: 'BAV', name: 'Blue Advantage HMO' }],
      period: { start: '2024-01-01', end: '2024-12-31' },
      relationship: { coding: [{ code: 'spouse' }] },
    });
    expect(JSON.stringify(coverage)).not.toMatch(/GRP-9|Acme/);
    // A contact with a relationship only names no one (pat-1), and an IN1 names no payer (Coverage.payor is required):
    // said, with the guarantor.
    expect(ok.issues.map((i) => [i.severity, i.diagnostics])).toEqual([
      ['information', 'segments not mapped to FHIR (their content is not in the output): NK1, GT1, IN1'],
    ]);
  });

  it("maps the patient's race, ethnicity, marital status, language and multiple birth (PID-10, -22, -16, -15, -24/25)", () => {
    // Read by nothing before 2026-12-06: 106 of the samples' 140 patients have a race in CDC's codes, 102 an ethnicity.
    const pid = (fields: Record<number, string>): string => {
      const f = ['PID', '1', '', 'MRN7^^^HOSP^MR', '', 'Doe^Jane', '', '19900307', 'F'];
      for (const [n, v] of Object.entries(fields)) f[Number(n)] = v;
      return Array.from(f, (x) => x ?? '').join('|');
    };
    const patientOf = (fields: Record<number, string>) => {
      const msg = ['MSH|^~\\&|ADT|FAC|TRIB|FAC|20240305081500||ADT^A04|C7|P|2.5.1', pid(fields)].join(CR);
      const r = mapHl7v2(Buffer.from(msg), ctx);
      return { patient: byType(r, 'Patient')[0], issues: r.issues.map((i) => i.diagnostics) };
    };
    const { patient } = patientOf({
      10: '2106-3^White^HL70005~2058-6^African American^CDCREC',
      22: 'N^NOT HISPANIC OR LATINO^HL70189',
      16: 'A^Separated^HL70002',
      15: 'spa^Spanish^HL70296',
      24: 'Y',
      25: '2',
    });
    expect(patient.extension).toEqual([
      {
        url: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-race',
        extension: [
          {
            url: 'ombCategory',
            valueCoding: { system: 'urn:oid:2.16.840.1.113883.6.238', code: '2106-3', display: 'White' },
          },
          {
            url: 'detailed',
            valueCoding: {
              system: 'urn:oid:2.16.840.1.113883.6.238',
              code: '2058-6',
              display: 'African American',
            },
          },
          { url: 'text', valueString: 'White, African American' },
        ],
      },
      {
        url: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity',
        extension: [
          {
            url: 'ombCategory',
            valueCoding: {
              system: 'urn:oid:2.16.840.1.113883.6.238',
              code: '2186-5',
              display: 'Not Hispanic or Latino',
            },
          },
          { url: 'text', valueString: 'Not Hispanic or Latino' },
        ],
      },
    ]);
    // v2's A is "separated", v3's A "annulled": mapped by meaning, not by letter.
    expect(patient.maritalStatus).toEqual({
      coding: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus',
          code: 'L',
          display: 'Legally Separated',
        },
      ],
    });
    expect(patient.communication).toEqual([
      { language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'es' }], text: 'Spanish' } },
    ]);
    expect(patient.multipleBirthInteger).toBe(2);
    // A race in another code system is said, not guessed at; no ethnicity extension from an unknown code.
    const other = patientOf({ 10: 'C^Caucasian^L', 22: 'A^White - British' });
    expect(other.patient.extension).toBeUndefined();
    expect(other.issues).toEqual([
      'race is not a CDC race code: not mapped',
      'ethnicity is not a CDC ethnicity code (or H, N): not mapped',
    ]);
  });

  it('maps every allergy, diagnosis and procedure of the samples, and their notes where R4 has a note', () => {
    const counts = new Map<string, number>();
    let notes = 0;
    for (const f of sampleFiles('hl7v2')) {
      const r = mapHl7v2(readFileSync(f), { ...ctx, sourceFile: basename(f) });
      for (const res of r.resources) {
        counts.set(res.resourceType, (counts.get(res.resourceType) ?? 0) + 1);
        notes += ((res.note as unknown[] | undefined) ?? []).length;
      }
    }
    expect(counts.get('AllergyIntolerance')).toBe(33);
    expect(counts.get('Condition')).toBe(50);
    expect(counts.get('Procedure')).toBe(26);
    expect(counts.get('Coverage')).toBe(41);
    expect(notes).toBeGreaterThan(0);
  });
});

describe('mapHl7v2 on a batch file (FHS, BHS ... BTS, FTS: HL7 v2 2.10.3)', () => {
  /** Lines of message n: no MSH-10 when `controlId` is false, so its ids come from its ordinal in the file. */
  const message = (n: number, controlId = true): string[] => [
    `MSH|^~\\&|LAB|FAC|TRIB|FAC|20240305081500||ADT^A04|${controlId ? `C${n}` : ''}|P|2.5.1`,
    `PID|1||MRN${n}^^^HOSP^MR||Doe^Jane||19900307|F`,
    'PV1|1|O',
  ];
  const batch = (messages: string[][], count: number): string[] => [
    'BHS|^~\\&|LAB|FAC|TRIB|FAC|20240305',
    ...messages.flat(),
    `BTS|${count}`,
  ];

  it('maps the messages and takes the envelope for what it is: no rejected record, no trailer in a message', () => {
    const lines = [
      'FHS|^~\\&|LAB|FAC|TRIB|FAC|20240305',
      ...batch([message(1), message(2)], 2),
      ...batch([message(3)], 1),
      'FTS|2',
    ];
    const r = mapHl7v2(Buffer.from(lines.join(CR)), ctx);
    expectReconciled(r);
    expect([r.recordsIn, r.recordsRejected]).toEqual([3, 0]);
    expect(r.issues).toEqual([]);
    // The same resources as the bare messages: a trailer is not read as a segment of the message before it.
    const bare = mapHl7v2(Buffer.from([1, 2, 3].flatMap((n) => message(n)).join(CR)), ctx);
    expect(r.resources).toEqual(bare.resources);
  });

  it('reports a trailer that counts other than it holds, by line, and rejects lines outside any message', () => {
    const lines = [
      'FHS|^~\\&|LAB|FAC|TRIB|FAC|20240305',
      ...batch([message(1), message(2)], 3), // a message lost in transfer
      'stray text',
      ...batch([message(3)], 1),
      'FTS|3',
    ];
    const r = mapHl7v2(Buffer.from(lines.join('\r\n')), ctx);
    expectReconciled(r);
    expect([r.recordsIn, r.recordsMapped, r.recordsRejected]).toEqual([4, 3, 1]);
    const byLine = (line: number) => r.issues.filter((i) => i.location?.[0] === `test.hl7:line ${line}`);
    expect(byLine(9)).toMatchObject([
      {
        severity: 'error',
        code: 'incomplete',
        diagnostics: expect.stringMatching(/BTS-1 counts 3 .* holds 2/),
      },
    ]);
    expect(byLine(10)).toMatchObject([{ severity: 'error', code: 'structure' }]);
    expect(byLine(16)).toMatchObject([
      { code: 'incomplete', diagnostics: expect.stringMatching(/FTS-1 counts 3 .* holds 2/) },
    ]);
  });

  it('gives the whole file’s resources and locations for pieces carrying their first line and message ordinal', () => {
    // No MSH-10 (ids from ordinals), a rejected message (its location names ordinal and line), CR LF and MLLP framing.
    const messages = Array.from({ length: 9 }, (_, i) => message(i + 1, false));
    messages[4][1] = 'PID|1';
    messages[6][0] = `\x0b${messages[6][0]}`;
    const lines = [
      'FHS|^~\\&|LAB|FAC',
      ...batch(messages.slice(0, 5), 5),
      ...batch(messages.slice(5), 4),
      'FTS|2',
    ];
    const text = lines.join('\r\n');
    const whole = mapHl7v2(Buffer.from(text), ctx);
    expectReconciled(whole);
    expect(whole.recordsRejected).toBe(1);
    // Cut before message 3 (line 9), before the second batch's header (line 18) and before message 8 (line 25).
    const cuts = [0, 8, 18, 25, lines.length];
    const pieces = cuts.slice(0, -1).map((from, k) => {
      const firstRecord = 1 + lines.slice(0, from).filter((l) => /^\v?MSH/.test(l)).length;
      const bytes = Buffer.from(
        lines.slice(from, cuts[k + 1]).join('\r\n') + (k < cuts.length - 2 ? '\r\n' : ''),
      );
      return mapHl7v2(bytes, { ...ctx, firstLine: from + 1, firstRecord });
    });
    expect(pieces.flatMap((p) => p.resources)).toEqual(whole.resources);
    expect(pieces.flatMap((p) => p.issues)).toEqual(whole.issues);
    expect(whole.issues.map((i) => i.location?.[0])).toEqual([
      'test.hl7:message 5 (line 15):PID-3 (line 16)',
    ]);
  });
});

describe('mapFile on an HL7 v2 batch file with a batch handler', () => {
  it('maps it in pieces of whole messages, giving the whole file’s ids, resources, locations and trailer checks', async () => {
    // The real samples (UTF-8 ones) with their MSH-10s dropped, so ids come from each message's ordinal in the file.
    const messages = sampleFiles('hl7v2', '.hl7')
      .map((f) => readFileSync(f, 'utf8').replace(/\r?\n/g, '\r').trim())
      .filter((m) => m.startsWith('MSH|') && !/\|GB|\|8859/.test(m.split('\r')[0]))
      .map((m) => m.replace(/^(MSH(?:\|[^|\r]*){8}\|)[^|\r]*/, '$1'));
    expect(messages.length).toBeGreaterThan(50);
    const dir = mkdtempSync(join(tmpdir(), 'hl7-pieces-'));
    try {
      const file = join(dir, 'feed.hl7');
      writeFileSync(
        file,
        `FHS|^~\\&|A\rBHS|^~\\&|A\r${messages.join('\r\n')}\rBTS|${messages.length + 1}\rFTS|2\r`,
      );
      const fileCtx = { ...ctx, sourceFile: 'feed.hl7' };
      const whole = await mapFile('hl7v2', file, fileCtx);
      expect(whole.issues.some((i) => /message \d+ \(line \d+\)/.test(i.location?.[0] ?? ''))).toBe(true);
      // The trailers miscount (a message and a batch lost on the way): found across pieces too.
      expect(
        whole.issues.filter((i) => /trailer/.test(i.diagnostics ?? '')).map((i) => i.diagnostics),
      ).toEqual([
        expect.stringMatching(/^batch trailer BTS-1 counts \d+ message\(s\); the batch holds \d+/),
        expect.stringMatching(/^file trailer FTS-1 counts 2 batch\(es\); the file holds 1/),
      ]);
      const batches: MapResult[] = [];
      const totals = await mapFile('hl7v2', file, fileCtx, async (b) => void batches.push(b), {
        pieceBytes: 4000,
      });
      expect(batches.length).toBeGreaterThan(10);
      expect(batches.flatMap((b) => b.resources)).toEqual(whole.resources);
      expect(batches.flatMap((b) => b.issues)).toEqual(whole.issues);
      expect([totals.recordsIn, totals.recordsMapped]).toEqual([whole.recordsIn, whole.recordsMapped]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
