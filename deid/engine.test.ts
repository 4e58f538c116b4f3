import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mapBuffer, validateFhirResource } from '../mappers/index';
import { sampleFiles } from '../mappers/test-support/data';
import {
  createDeidEngine,
  createKeyService,
  scanResidualPhi,
  collectIdentifiers,
  compilePolicy,
  parsePolicy,
  pseudonymOf,
  type FhirResource,
} from './index';
import { buildFhirFixture } from './fixtures/records';

const keyService = createKeyService({
  key: crypto.createHash('sha256').update('engine-test').digest(),
  keyId: 'k-test',
});
const referenceDate = new Date('2025-06-01T00:00:00Z');

function run(profile: 'safe-harbor' | 'gbt-37964' | 'limited-dataset' = 'safe-harbor') {
  const fx = buildFhirFixture();
  const engine = createDeidEngine({ profile, keyService, referenceDate });
  const a = engine.deidentifyResources(fx.byInstitution['inst-a'], { institution: 'inst-a' });
  const b = engine.deidentifyResources(fx.byInstitution['inst-b'], { institution: 'inst-b' });
  return { fx, a, b };
}

const find = (list: FhirResource[], type: string, i = 0) => list.filter((r) => r.resourceType === type)[i];

/** The patient's mother's history, with `parts` (conditions, a birth date). */
const motherHistory = (parts: Record<string, unknown>): FhirResource => ({
  resourceType: 'FamilyMemberHistory',
  id: 'f1',
  status: 'completed',
  patient: { reference: 'Patient/p1' },
  relationship: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'MTH' }] },
  ...parts,
});

/** A study's own policy: `rules` first, then safe-harbor's. */
const onSafeHarbor = (name: string, rules: unknown[]) =>
  parsePolicy({ name, version: '1.0.0', extends: 'safe-harbor', rules }, `${name}.yaml`);

describe('createDeidEngine (safe-harbor)', () => {
  it('leaves no planted identifier anywhere in the output, text attachments included', () => {
    const { fx, a, b } = run();
    expect(a.quarantined).toEqual([]);
    expect(b.quarantined).toEqual([]);
    const decoded = [...a.outputs, ...b.outputs].map((r) => {
      const json = JSON.stringify(r);
      const docs = JSON.stringify(r).match(/"data":"([^"]+)"/g) ?? [];
      return json + docs.map((d) => Buffer.from(d.slice(8, -1), 'base64').toString('utf8')).join(' ');
    });
    const all = decoded.join('\n');
    for (const p of fx.planted) expect(all.includes(p.value), `${p.type} survived`).toBe(false);
  });

  it('links the same person across institutions: same pseudonym, same date offset, intervals kept', () => {
    const { a, b } = run();
    const pa = find(a.outputs, 'Patient');
    const pb = find(b.outputs, 'Patient');
    // Two Patient records (a FHIR server keeps both), one person: the pseudonym identifier links them.
    expect(pa.id).not.toBe(pb.id);
    expect(pseudonymOf(pa)).toMatch(/^P[A-Z0-9]{15}$/);
    expect(pseudonymOf(pa)).toBe(pseudonymOf(pb));
    expect(find(a.outputs, 'Encounter').subject).toEqual({ reference: `Patient/${pa.id}` });
    expect(find(b.outputs, 'Encounter').subject).toEqual({ reference: `Patient/${pb.id}` });
    const ea = find(a.outputs, 'Encounter').period as { start: string; end: string };
    const eb = find(b.outputs, 'Encounter').period as { start: string; end: string };
    const days = (x: string, y: string) => (Date.parse(y) - Date.parse(x)) / 86_400_000;
    // originals: 2024-03-05T09 -> 2024-03-07T12 (2.125 days) and 2024-03-05T09 -> 2024-06-10T10 (97 days + 1 h)
    expect(days(ea.start, ea.end)).toBe(2.125);
    expect(days(ea.start, eb.start) * 24).toBe(97 * 24 + 1);
    expect(ea.start).not.toBe('2024-03-05T09:00:00Z');
    expect(ea.start.slice(10)).toBe('T09:00:00Z');
    // the observation note shares the patient's offset: 2024-03-06 became the encounter start + 1 day
    const note = (find(a.outputs, 'Observation').note as { text: string }[])[0].text;
    const shifted = new Date(Date.parse(ea.start) + 86_400_000);
    expect(note).toContain(
      `${shifted.getUTCMonth() + 1}/${shifted.getUTCDate()}/${shifted.getUTCFullYear()}`,
    );
  });

  it('generalizes birth date (90+), address (state + ZIP3, restricted ZIP3 -> 000) and removes what no rule allows', () => {
    const { a, b } = run();
    const pa = find(a.outputs, 'Patient');
    expect(pa.birthDate).toBe('1960');
    expect(pa.address).toEqual([{ state: 'MA', postalCode: '021' }]);
    expect(pa.telecom).toBeUndefined();
    expect(pa.favouriteColour).toBeUndefined();
    expect(pa.extension).toEqual([
      { url: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex', valueCode: 'M' },
    ]);
    expect((pa.name as { family: string }[])[0].family).not.toBe('Thornbury');
    const old = find(a.outputs, 'Patient', 1);
    expect(old.birthDate).toBe('1935'); // 95 in 2025: folded into 90+ (born no later than 2025 - 90)
    const restricted = find(b.outputs, 'Patient', 1);
    expect(restricted.address).toEqual([{ state: 'NH', postalCode: '000' }]);
    expect(a.report.ruleCounts['removed-unlisted Patient.favouriteColour']).toBe(1);
    expect(a.report.ruleCounts['removed-unlisted Patient.extension']).toBe(1);
    expect(a.report.ruleCounts['removed-unlisted Patient.meta.source']).toBe(1);
  });

  it('labels outputs and records policy, version and key id in a Provenance', () => {
    const { a } = run();
    const sec = (find(a.outputs, 'Patient').meta as { security: { code: string }[] }).security.map(
      (s) => s.code,
    );
    expect(sec).toEqual(expect.arrayContaining(['PSEUDED', 'REDACTED', 'MASKED']));
    expect(a.provenance?.policy).toEqual(['urn:tributary:deid-policy:safe-harbor|1.7.0']);
    expect(JSON.stringify(a.provenance)).toContain('k-test');
    expect((a.provenance?.target as unknown[]).length).toBe(a.outputs.length);
    expect(a.report).toMatchObject({
      profile: 'safe-harbor',
      policyVersion: '1.7.0',
      keyId: 'k-test',
      resourcesIn: 6,
      resourcesOut: 6,
    });
  });

  it('rewrites text attachments and drops their hash', () => {
    const { a } = run();
    const att = (find(a.outputs, 'DocumentReference').content as { attachment: Record<string, unknown> }[])[0]
      .attachment;
    expect(att.hash).toBeUndefined();
    const text = Buffer.from(att.data as string, 'base64').toString('utf8');
    expect(text).toContain('Takes metformin.');
    expect(att.size).toBe(Buffer.byteLength(text));
  });

  /** A Practitioner with an NPI and `resource`, which names it by a conditional reference made by `byNpi`. */
  function deidentifyWithNpiPractitioner(resource: (byNpi: Record<string, string>) => FhirResource) {
    const npi = 'http://hl7.org/fhir/sid/us-npi';
    const engine = createDeidEngine({ profile: 'safe-harbor', keyService, referenceDate });
    const res = engine.deidentifyResources(
      [
        { resourceType: 'Practitioner', id: 'pr-1', identifier: [{ system: npi, value: '9999974493' }] },
        resource({ reference: `Practitioner?identifier=${npi}|9999974493`, display: 'Dr. Ng' }),
      ],
      { institution: 'inst-a' },
    );
    expect(res.quarantined).toEqual([]);
    expect(JSON.stringify(res.outputs)).not.toContain('9999974493');
    const practitioner = find(res.outputs, 'Practitioner');
    return { res, expected: { type: 'Practitioner', identifier: (practitioner.identifier as unknown[])[0] } };
  }

  it("rewrites a conditional reference by identifier as a logical reference to the target's de-identified identifier", () => {
    const { res, expected } = deidentifyWithNpiPractitioner((individual) => ({
      resourceType: 'Encounter',
      id: 'enc-1',
      status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
      participant: [{ individual }],
    }));
    const [{ individual }] = find(res.outputs, 'Encounter').participant as { individual: unknown }[];
    expect(individual).toEqual(expected);
  });

  it('makes a conditional reference inside scrubbed text (an Annotation author) a logical reference too', () => {
    const { res, expected } = deidentifyWithNpiPractitioner((authorReference) => ({
      resourceType: 'Condition',
      id: 'cond-1',
      code: { text: 'Asthma' },
      note: [{ authorReference, text: 'Seen in clinic.' }],
    }));
    const [note] = find(res.outputs, 'Condition').note as Record<string, unknown>[];
    const author = note.authorReference as Record<string, unknown>;
    expect(author.reference).toBeUndefined();
    expect(author).toMatchObject(expected);
    expect(note.text).toBe('Seen in clinic.');
  });

  it('leaves no empty data element for an empty text attachment (FHIR has no empty strings)', () => {
    const engine = createDeidEngine({ profile: 'safe-harbor', keyService, referenceDate });
    const res = engine.deidentifyResources(
      [
        {
          resourceType: 'DocumentReference',
          id: 'empty-section',
          status: 'current',
          content: [{ attachment: { contentType: 'text/plain', title: 'Section', data: '' } }],
        },
      ],
      { institution: 'inst-a' },
    );
    expect(res.quarantined).toEqual([]);
    const att = (res.outputs[0].content as { attachment: Record<string, unknown> }[])[0].attachment;
    expect(att).not.toHaveProperty('data');
    expect(att).not.toHaveProperty('size');
  });
});

describe('fail closed', () => {
  it('quarantines malformed resources and unknown patients with reasons, never values', () => {
    const engine = createDeidEngine({ profile: 'safe-harbor', keyService });
    const res = engine.deidentifyResources(
      [
        { resourceType: 'not a type' } as FhirResource,
        {
          resourceType: 'Observation',
          id: 'o1',
          subject: { reference: 'Patient/nowhere-555-2368' },
          status: 'final',
        },
        { resourceType: 'Bundle', id: 'b1' },
        {
          resourceType: 'Observation',
          id: 'o2',
          status: 'final',
          valueString: 'x',
          effectiveDateTime: '2024-13-45',
        },
      ],
      { institution: 'inst-a' },
    );
    expect(res.outputs).toHaveLength(0);
    expect(res.quarantined.map((q) => q.rule)).toEqual([
      'input.malformed',
      'input.malformed',
      'link.unresolved-patient',
      'engine.error',
    ]);
    expect(res.quarantined[3].path).toBe('Observation.effectiveDateTime');
    expect(JSON.stringify(res)).not.toContain('555-2368');
    expect(JSON.stringify(res)).not.toContain('not a type');
    expect(res.report.resourcesIn).toBe(res.outputs.length + res.quarantined.length);
  });

  it('the residual-PHI gate quarantines a record whose policy keeps a name, naming rule and path only', () => {
    const fx = buildFhirFixture();
    const leaky = onSafeHarbor('leaky', [
      { path: 'Patient.name', method: 'keep' },
      // a note's text is named: a text inside a kept element with no rule of its own is scrubbed
      { path: 'Observation.note.text', method: 'keep' },
      { path: 'Observation.note', method: 'keep' },
    ]);
    const engine = createDeidEngine({ profile: 'safe-harbor', policy: leaky, keyService });
    const res = engine.deidentifyResources(fx.byInstitution['inst-a'], { institution: 'inst-a' });
    const rules = res.quarantined.map((q) => `${q.resourceType} ${q.rule} ${q.path}`);
    expect(
      rules.some((r) => r.startsWith('Patient gate.record-identifier:name Patient.name[0]')),
      rules.join('; '),
    ).toBe(true);
    expect(rules.some((r) => r.startsWith('Observation gate.'))).toBe(true);
    const dump = JSON.stringify(res.quarantined);
    for (const v of ['Thornbury', 'Jonathan', '王小明', '617']) expect(dump).not.toContain(v);
    expect(res.report.resourcesIn).toBe(res.outputs.length + res.quarantined.length);
  });

  it('scanResidualPhi finds normalized forms: case, spacing, full-width, partial names, separators', () => {
    const raw = buildFhirFixture().byInstitution['inst-a'][0];
    const ids = collectIdentifiers(raw);
    const probe = (s: string) =>
      scanResidualPhi({ resourceType: 'Basic', note: [{ text: s }] } as FhirResource, ids).map((f) => f.rule);
    expect(probe('seen: JONATHAN   thornbury')).toContain('gate.record-identifier:name');
    expect(probe('Thornbury')).toContain('gate.record-identifier:name');
    expect(probe('ssn １２３４５６７８９')).toContain('gate.record-identifier:identifier');
    expect(probe('ssn 123 45 6789')).toContain('gate.record-identifier:identifier');
    expect(probe('born 04/12/1960')).toContain('gate.record-identifier:birth-date');
    expect(probe('call 13912345678')).toContain('gate.cn-mobile');
    expect(probe('nothing here, Parkinson disease, 555-555-0142, user.1@example.org')).toEqual([]);
  });
});

describe('profiles', () => {
  it('gbt-37964 keeps province and city, drops district and postcode', () => {
    const { a } = run('gbt-37964');
    expect(a.quarantined).toEqual([]);
    const pb = find(a.outputs, 'Patient', 1);
    expect(pb.address).toEqual([{ city: '北京市', state: '北京市' }]);
    expect(JSON.stringify(pb)).not.toContain('王');
    const obs = find(a.outputs, 'Observation', 1).valueString as string;
    expect(obs).toContain('帕金森病史');
    expect(obs).not.toContain('11010519491231002X');
  });

  it('publishes a patient named like their town where the profile keeps the town, and finds the name elsewhere', () => {
    // The HL7 v2 samples hold six such test patients (name and city both AAAAAA); Houston and Florence are real ones.
    for (const profile of ['gbt-37964', 'limited-dataset'] as const) {
      const engine = createDeidEngine({ profile, keyService, referenceDate });
      const patient: FhirResource = {
        resourceType: 'Patient',
        id: 'p1',
        name: [{ family: 'Houston', given: ['Florence'] }],
        address: [{ city: 'Houston', state: 'TX' }],
      };
      const note: FhirResource = {
        resourceType: 'Observation',
        id: 'o1',
        status: 'final',
        code: { text: 'note' },
        subject: { reference: 'Patient/p1' },
        // a published terminology's display, kept as written by the policy: only the gate can find the name here (a
        // local code's display is scrubbed as free text, which would take the name before the gate sees it)
        valueCodeableConcept: {
          coding: [{ system: 'http://snomed.info/sct', code: 'x', display: 'Houston' }],
        },
      };
      const res = engine.deidentifyResources([patient, note], { institution: 'inst-a' });
      expect(
        res.quarantined.map((q) => `${q.resourceType} ${q.rule} ${q.path}`),
        profile,
      ).toEqual([
        'Observation gate.record-identifier:name Observation.valueCodeableConcept.coding[0].display',
      ]);
      expect(res.outputs[0].address, profile).toEqual([expect.objectContaining({ city: 'Houston' })]);
      expect(JSON.stringify(res.outputs[0].name), profile).not.toMatch(/Houston|Florence/);
    }
  });

  it('limited-dataset keeps dates and five-digit ZIP but not names or identifiers', () => {
    const { a } = run('limited-dataset');
    expect(a.quarantined).toEqual([]);
    const pa = find(a.outputs, 'Patient');
    expect(pa.birthDate).toBe('1960-04-12');
    expect(pa.address).toEqual([{ city: 'Somerville', state: 'MA', postalCode: '02143' }]);
    expect(JSON.stringify(pa)).not.toContain('Thornbury');
    expect((find(a.outputs, 'Encounter').period as { start: string }).start).toBe('2024-03-05T09:00:00Z');
  });

  it('k-anonymity: smallest class, records below k, suppression', () => {
    const { a, b } = run();
    const engine = createDeidEngine({ profile: 'safe-harbor', keyService, referenceDate });
    const patients = [...a.outputs, ...b.outputs].filter((r) => r.resourceType === 'Patient');
    const report = engine.assessRisk(patients, { k: 2 });
    expect(report).toMatchObject({ threshold: 2, smallestClass: 1, k: 1, suppressed: 0 });
    expect(report.recordsBelowThreshold).toBe(2);
    const suppressed = engine.assessRisk(patients, { k: 2, suppress: true });
    expect(suppressed.suppressed).toBe(2);
  });

  it('k-anonymity counts a kept city as part of the region (GB/T 37964 and the limited data set keep it)', () => {
    const engine = createDeidEngine({ profile: 'gbt-37964', keyService, referenceDate });
    const patient = (city: string) => ({
      resourceType: 'Patient',
      gender: 'female',
      birthDate: '1980',
      address: [{ city, state: '广东省', country: 'CN' }],
    });
    const alike = engine.assessRisk([patient('广州市'), patient('广州市')], { k: 2 });
    expect(alike).toMatchObject({ records: 2, classes: 1, k: 2, recordsBelowThreshold: 0 });
    const apart = engine.assessRisk([patient('广州市'), patient('深圳市')], { k: 2 });
    expect(apart).toMatchObject({ records: 2, classes: 2, k: 1, recordsBelowThreshold: 2 });
  });
});

type Json = Record<string, unknown>;

/** The real Synthea patient bundles in ../shared/data, mapped as the ehr source maps them: one array per patient. */
async function syntheaBundles(): Promise<FhirResource[][]> {
  const out: FhirResource[][] = [];
  for (const f of sampleFiles('fhir/synthea-bundles', '.json')) {
    const r = await mapBuffer('fhir', readFileSync(f), { institution: 'inst-a', sourceFile: basename(f) });
    expect(r.recordsRejected).toBe(0);
    out.push(r.resources);
  }
  expect(out.length).toBeGreaterThan(0);
  return out;
}

/** Every `"reference": "#id"` of a resource and the ids of its contained resources. */
function localReferences(r: Json): { refs: string[]; ids: string[] } {
  const refs = (JSON.stringify(r).match(/"reference":"#[^"]*"/g) ?? []).map((m) => m.slice(14, -1));
  const ids = ((r.contained as Json[] | undefined) ?? []).map((c) => c.id as string);
  return { refs, ids };
}

describe('the real Synthea patient bundles', () => {
  it.each(['safe-harbor', 'gbt-37964', 'limited-dataset'] as const)(
    'come out as valid FHIR R4 under %s: claims keep what was billed, coded and paid, contained references resolve',
    async (profile) => {
      const engine = createDeidEngine({ profile, keyService, referenceDate });
      const invalid: string[] = [];
      let claims = 0;
      let localRefs = 0;
      for (const input of await syntheaBundles()) {
        const res = engine.deidentifyResources(structuredClone(input), { institution: 'inst-a' });
        expect(res.quarantined).toEqual([]);
        expect(res.outputs).toHaveLength(input.length);
        input.forEach((before, i) => {
          const after = res.outputs[i] as Json;
          for (const issue of validateFhirResource(after as FhirResource))
            if (issue.severity === 'error' || issue.severity === 'fatal')
              invalid.push(`${before.resourceType}: ${issue.expression?.[0]} ${issue.diagnostics}`);
          const { refs, ids } = localReferences(after);
          for (const ref of refs) expect(ids, `${before.resourceType} ${ref}`).toContain(ref);
          localRefs += refs.length;
          if (before.resourceType !== 'Claim' && before.resourceType !== 'ExplanationOfBenefit') return;
          claims++;
          // what was billed and paid, and the sequence numbers that tie items together, as written
          const billed = (r: Json) =>
            JSON.stringify({
              use: r.use,
              items: (r.item as Json[]).map((it) => [
                it.sequence,
                it.productOrService,
                it.net,
                it.adjudication,
                it.informationSequence,
              ]),
              total: r.total,
              payment: (r.payment as Json | undefined)?.amount,
              insurance: (r.insurance as Json[]).map((x) => [x.sequence, x.focal]),
            });
          expect(billed(after)).toBe(billed(before));
        });
      }
      expect([...new Set(invalid)]).toEqual([]);
      expect(claims).toBeGreaterThan(100);
      expect(localRefs).toBeGreaterThan(100);
    },
  );

  it('keeps where a person was born as far as an address may stand, and what kind of agent made a record', async () => {
    const [input] = await syntheaBundles();
    const engine = createDeidEngine({ profile: 'safe-harbor', keyService, referenceDate });
    const res = engine.deidentifyResources(structuredClone(input), { institution: 'inst-a' });
    const patient = res.outputs.find((r) => r.resourceType === 'Patient') as Json;
    const born = (patient.extension as Json[]).filter((e) => /patient-birthPlace$/.test(e.url as string));
    expect(born).toEqual([
      {
        url: 'http://hl7.org/fhir/StructureDefinition/patient-birthPlace',
        valueAddress: { state: 'Massachusetts', country: 'US' },
      },
    ]);
    const provenance = res.outputs.find((r) => r.resourceType === 'Provenance') as Json;
    for (const agent of provenance.agent as Json[]) expect(agent.type).toBeDefined();
  });

  it("turns a claim's authorization and arrangement numbers into digests, and keeps a relative's onset only as an age", () => {
    const engine = createDeidEngine({ profile: 'safe-harbor', keyService, referenceDate });
    const res = engine.deidentifyResources(
      [
        { resourceType: 'Patient', id: 'p1' },
        {
          resourceType: 'Claim',
          id: 'c1',
          status: 'active',
          use: 'claim',
          patient: { reference: 'Patient/p1' },
          insurance: [
            {
              sequence: 1,
              focal: true,
              coverage: { reference: 'Coverage/cv1' },
              preAuthRef: ['PA-99812345'],
              businessArrangement: 'BA-7731',
            },
          ],
        },
        motherHistory({
          condition: [
            { code: { text: 'Stroke' }, onsetRange: { low: { value: 92, unit: 'a' } } },
            {
              code: { text: 'MI' },
              onsetAge: { value: 93, unit: 'a', system: 'http://unitsofmeasure.org', code: 'a' },
            },
          ],
        }),
      ],
      { institution: 'inst-a' },
    );
    expect(res.quarantined).toEqual([]);
    const [, claim, history] = res.outputs as Json[];
    const insurance = (claim.insurance as Json[])[0];
    expect(insurance).toMatchObject({ sequence: 1, focal: true });
    expect(insurance.preAuthRef).toEqual([expect.stringMatching(/^[0-9a-f]{32}$/)]);
    expect(insurance.businessArrangement).toMatch(/^[0-9a-f]{32}$/);
    expect(history.condition).toEqual([
      { code: { text: 'Stroke' } },
      {
        code: { text: 'MI' },
        onsetAge: { value: 90, comparator: '>=', unit: 'a', system: 'http://unitsofmeasure.org', code: 'a' },
      },
    ]);
  });

  it('keeps a code written without its system (a Coding is no Reference for having a display)', () => {
    const engine = createDeidEngine({ profile: 'safe-harbor', keyService, referenceDate });
    const coding = { code: '99213', display: 'Office visit, established patient' };
    const res = engine.deidentifyResources(
      [
        { resourceType: 'Patient', id: 'p1' },
        {
          resourceType: 'Observation',
          id: 'o1',
          status: 'final',
          code: { coding: [coding] },
          subject: { reference: 'Patient/p1', display: 'Jane Roe' },
        },
      ],
      { institution: 'inst-a' },
    );
    expect(res.quarantined).toEqual([]);
    expect(res.outputs[1].code).toEqual({ coding: [coding] });
    expect(JSON.stringify(res.outputs)).not.toContain('Jane');
  });

  it("scrubs an identifier type's text, where feeds write the number, and keeps its codes", () => {
    // Kept whole before 2026-12-06: 'MRN 123456' in Identifier.type.text sent the Patient to quarantine.
    const engine = createDeidEngine({ profile: 'safe-harbor', keyService, referenceDate });
    const coding = [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }];
    const res = engine.deidentifyResources(
      [
        {
          resourceType: 'Patient',
          id: 'p1',
          identifier: [
            { system: 'http://hospital.example/mrn', value: '123456', type: { coding, text: 'MRN 123456' } },
            { system: 'http://hospital.example/acct', value: 'A-77', type: { text: 'MRN 123456' } },
          ],
        },
      ],
      { institution: 'inst-a' },
    );
    expect(res.quarantined).toEqual([]);
    const [mrn, account] = res.outputs[0].identifier as { type: { coding?: unknown; text: string } }[];
    expect(mrn.type.coding).toEqual(coding);
    expect(mrn.type.text).toMatch(/^MRN \S+$/);
    expect(JSON.stringify(res.outputs)).not.toContain('123456');
    expect(account.type.text).toBe(mrn.type.text);
  });

  it('knows an address or an identifier by its declared type wherever it sits, not by its name alone', () => {
    // Until 2026-12-06 a claim item's place of service (locationAddress) was kept whole with the item, street and all,
    // and a specimen's accession number or an order's requisition was removed rather than pseudonymized.
    const engine = createDeidEngine({ profile: 'safe-harbor', keyService, referenceDate });
    const street = {
      line: ['12 Quillfeather Avenue'],
      city: 'Springfield',
      state: 'MA',
      postalCode: '01101',
    };
    const res = engine.deidentifyResources(
      [
        { resourceType: 'Patient', id: 'p1' },
        {
          resourceType: 'Claim',
          id: 'c1',
          status: 'active',
          type: {
            coding: [{ system: 'http://terminology.hl7.org/CodeSystem/claim-type', code: 'professional' }],
          },
          use: 'claim',
          patient: { reference: 'Patient/p1' },
          created: '2024-01-01',
          provider: { reference: 'Organization/o1' },
          priority: {
            coding: [{ system: 'http://terminology.hl7.org/CodeSystem/processpriority', code: 'normal' }],
          },
          insurance: [{ sequence: 1, focal: true, coverage: { reference: 'Coverage/cv1' } }],
          item: [{ sequence: 1, productOrService: { coding: [{ code: '99213' }] }, locationAddress: street }],
        },
        {
          resourceType: 'Specimen',
          id: 's1',
          subject: { reference: 'Patient/p1' },
          accessionIdentifier: { system: 'urn:lab:accession', value: 'ACC-77812' },
        },
      ],
      { institution: 'inst-a' },
    );
    expect(res.quarantined).toEqual([]);
    const [, claim, specimen] = res.outputs as Json[];
    expect((claim.item as Json[])[0].locationAddress).toEqual({ state: 'MA', postalCode: '011' });
    expect(specimen.accessionIdentifier).toEqual({
      system: 'urn:lab:accession',
      value: expect.stringMatching(/^[0-9a-f]{32}$/),
    });
    expect(JSON.stringify(res.outputs)).not.toMatch(/Quillfeather|Springfield|ACC-77812/);
  });

  it("writes a date that makes its person older than 89 as the class's year, and reads no code as a date", () => {
    // Until 2026-12-06 only Patient.birthDate folded: a relative's birth date, a mother's, an encounter of 1931 kept
    // their year through a shift of days. And a code with a date's form was shifted (a version 2019-09).
    const engine = createDeidEngine({ profile: 'safe-harbor', keyService, referenceDate });
    const local = { system: 'urn:lab:codes', version: '2019-09', code: '1320', display: 'HIV Ag/Ab' };
    const obsInput = {
      resourceType: 'Observation',
      id: 'o1',
      status: 'final',
      code: { coding: [local] },
      subject: { reference: 'Patient/p1' },
      effectivePeriod: { start: '1931-06-01', end: '2024-01-02' },
    };
    const res = engine.deidentifyResources(
      [
        { resourceType: 'Patient', id: 'p1', birthDate: '1931-03-04', deceasedDateTime: '2024-01-05' },
        {
          resourceType: 'RelatedPerson',
          id: 'r1',
          patient: { reference: 'Patient/p1' },
          birthDate: '1929-05-01',
        },
        motherHistory({
          bornDate: '1925-02-03',
        }),
        obsInput,
      ],
      { institution: 'inst-a' },
    );
    expect(res.quarantined).toEqual([]);
    const [patient, relative, mother, obs] = res.outputs as Json[];
    expect(patient.birthDate).toBe('1935');
    expect(patient.deceasedDateTime).toMatch(/^202[34]-\d{2}-\d{2}$/);
    expect(relative.birthDate).toBe('1935');
    expect(mother.bornDate).toBe('1935');
    expect(obs.effectivePeriod).toEqual({
      start: '1935',
      end: expect.stringMatching(/^202[34]-\d{2}-\d{2}$/),
    });
    expect(obs.code).toEqual({ coding: [local] });
    // the letter of Safe Harbor (dates to their year) folds such a year too: date-year kept 1931
    const yearsOnly = onSafeHarbor('years', [
      { path: "nodesByType('dateTime')", method: 'generalize', kind: 'date-year' },
    ]);
    const years = createDeidEngine({ profile: 'safe-harbor', policy: yearsOnly, keyService, referenceDate });
    const [, dated] = years.deidentifyResources([{ resourceType: 'Patient', id: 'p1' }, obsInput], {
      institution: 'inst-a',
    }).outputs as Json[];
    expect(dated.effectivePeriod).toEqual({ start: '1935', end: '2024' });
    // and the gate stops such a date that a policy keeps as written (a year alone is often a code: it stands)
    const keepsDates = onSafeHarbor('keeps-dates', [
      { path: 'Observation.effectivePeriod', method: 'keep' },
      { path: 'Observation.valueString', method: 'keep' },
    ]);
    const kept = createDeidEngine({ profile: 'safe-harbor', policy: keepsDates, keyService, referenceDate });
    const gated = kept.deidentifyResources(
      [
        { resourceType: 'Patient', id: 'p1' },
        obsInput,
        { ...obsInput, id: 'o2', effectivePeriod: { start: '2001-06-01' }, valueString: '1931' },
      ],
      { institution: 'inst-a' },
    );
    expect(gated.quarantined.map((q) => `${q.id} ${q.rule} ${q.path}`)).toEqual([
      'o1 gate.date-over-89 Observation.effectivePeriod.start',
    ]);
    expect(gated.outputs).toHaveLength(2);
    for (const out of res.outputs)
      expect(
        validateFhirResource(out).filter((i) => i.severity === 'error' || i.severity === 'fatal'),
      ).toEqual([]);
  });

  it('scrubs the free text of a kept coded element, and publishes the record (reference data keeps it as written)', () => {
    // Kept as written before 2026-12-06: the gate quarantined the Condition for its MRN and the Observation for the
    // patient's name, and let the interpretation's third-party name through (the gate has no name dictionary).
    const engine = createDeidEngine({ profile: 'safe-harbor', keyService, referenceDate });
    const snomed = { system: 'http://snomed.info/sct', code: '24484000', display: 'Severe' };
    const res = engine.deidentifyResources(
      [
        {
          resourceType: 'Patient',
          id: 'p1',
          name: [{ family: 'Hartley', given: ['Bob'] }],
          identifier: [{ system: 'urn:mrn', value: 'MRN778812' }],
        },
        {
          resourceType: 'Observation',
          id: 'o1',
          status: 'final',
          subject: { reference: 'Patient/p1' },
          code: { coding: [{ system: 'http://loinc.org', code: '85354-9' }] },
          component: [
            {
              code: {
                coding: [{ system: 'http://loinc.org', code: '8480-6' }],
                text: 'Systolic per Bob Hartley 617-555-0100',
              },
              valueQuantity: { value: 120 },
            },
          ],
          interpretation: [{ text: 'reviewed by Dr. Alan Grant' }],
        },
        {
          resourceType: 'Condition',
          id: 'c1',
          subject: { reference: 'Patient/p1' },
          code: { text: 'Hodgkin lymphoma' },
          severity: { coding: [snomed], text: 'severe, MRN778812' },
          bodySite: [{ text: 'left arm' }],
        },
      ],
      { institution: 'inst-a' },
    );
    expect(res.quarantined).toEqual([]);
    const out = JSON.stringify(res.outputs);
    for (const v of ['Hartley', '617-555', 'Grant', '778812']) expect(out).not.toContain(v);
    const [, obs, condition] = res.outputs as Json[];
    expect((obs.component as Json[])[0].code).toMatchObject({ coding: [{ code: '8480-6' }] });
    expect((obs.component as { code: { text: string } }[])[0].code.text).toMatch(/^Systolic per /);
    expect(condition.severity).toMatchObject({ coding: [snomed], text: expect.stringMatching(/^severe, /) });
    // medicine survives: an eponymous disease and a body site are not names
    expect(condition.code).toEqual({ text: 'Hodgkin lymphoma' });
    expect(condition.bodySite).toEqual([{ text: 'left arm' }]);
    // a text written from a coding's display is the terminology's: kept as the display is (the rule that keeps a
    // coded element keeps its displays), not read again as free text
    const language = {
      coding: [{ system: 'urn:ietf:bcp:47', code: 'en-US', display: 'English (United States)' }],
      text: 'English (United States)',
    };
    const [patientOut] = engine.deidentifyResources(
      [{ resourceType: 'Patient', id: 'p2', communication: [{ language }] }],
      { institution: 'inst-a' },
    ).outputs as Json[];
    expect(patientOut.communication).toEqual([{ language }]);
    expect(res.report.ruleCounts['scrubText kept text']).toBeGreaterThanOrEqual(3);

    // A local code's display was typed at the source (an HL7 v2 OBX-3 of the lab's own codes): free text, and a text
    // that repeats it too. Before 2026-12-06 both were kept as written, a published terminology's display as well.
    const local = {
      system: 'urn:tributary:inst-a:codes:L',
      code: 'XNOTE',
      display: 'Addendum by Dr. Alan Grant for Bob Hartley',
    };
    const localRes = engine.deidentifyResources(
      [
        {
          resourceType: 'Patient',
          id: 'p3',
          name: [{ family: 'Hartley', given: ['Bob'] }],
        },
        {
          resourceType: 'Observation',
          id: 'o3',
          status: 'final',
          subject: { reference: 'Patient/p3' },
          code: { coding: [local], text: local.display },
          category: [{ coding: [{ code: 'lab', display: 'Lab drawn by Alan Grant' }] }],
          interpretation: [
            {
              coding: [
                {
                  system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation',
                  code: 'H',
                  display: 'High',
                },
              ],
            },
          ],
        },
      ],
      { institution: 'inst-a' },
    );
    expect(localRes.quarantined).toEqual([]);
    const localOut = JSON.stringify(localRes.outputs);
    for (const v of ['Hartley', 'Grant']) expect(localOut).not.toContain(v);
    const observation = localRes.outputs[1] as Json;
    expect(observation.code).toMatchObject({
      coding: [{ system: local.system, code: 'XNOTE', display: expect.stringMatching(/^Addendum by Dr\. /) }],
      text: expect.stringMatching(/^Addendum by Dr\. /),
    });
    expect((observation.interpretation as Json[])[0]).toEqual({
      coding: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation',
          code: 'H',
          display: 'High',
        },
      ],
    });
    expect(localRes.report.ruleCounts['scrubText kept display']).toBe(2);

    const labels = createDeidEngine({ profile: 'reference-data', keyService, referenceDate });
    const medication = {
      resourceType: 'Medication',
      id: 'm1',
      code: {
        coding: [{ system: 'http://hl7.org/fhir/sid/ndc', code: '0069-0105' }],
        text: 'Parkinson Relief 10 mg',
      },
    };
    const kept = labels.deidentifyResources([medication], { institution: 'inst-a' });
    expect(kept.quarantined).toEqual([]);
    expect(kept.outputs[0].code).toEqual(medication.code);
  });

  it("scrubs a payer's name where the person pays for themselves, and keeps a company's", async () => {
    const [input] = await syntheaBundles();
    const patient = input.find((r) => r.resourceType === 'Patient') as Json;
    const name = (patient.name as { given: string[]; family: string }[])[0];
    const full = `${name.given[0]} ${name.family}`;
    const claim = structuredClone(input.find((r) => r.resourceType === 'Claim')) as Json;
    const eob = structuredClone(input.find((r) => r.resourceType === 'ExplanationOfBenefit')) as Json;
    (claim.insurance as Json[])[0].coverage = { display: full };
    eob.insurer = { display: full };
    const coverage = (eob.contained as Json[]).find((c) => c.resourceType === 'Coverage')!;
    coverage.payor = [{ display: full }, { display: 'Aetna' }];
    const engine = createDeidEngine({ profile: 'safe-harbor', keyService, referenceDate });
    const res = engine.deidentifyResources(
      [patient as FhirResource, claim as FhirResource, eob as FhirResource],
      {
        institution: 'inst-a',
      },
    );
    expect(res.quarantined).toEqual([]);
    const out = JSON.stringify(res.outputs);
    expect(out).not.toContain(name.given[0]);
    expect(out).not.toContain(name.family);
    const [, claimOut, eobOut] = res.outputs as Json[];
    const payors = (
      (eobOut.contained as Json[]).find((c) => c.resourceType === 'Coverage')!.payor as Json[]
    ).map((p) => p.display);
    // required elements stay: each is a display, the person's a surrogate name and the company's as written
    expect(payors).toHaveLength(2);
    expect(payors[0]).toMatch(/^\S+ \S+$/);
    expect(payors[1]).toBe('Aetna');
    expect(((claimOut.insurance as Json[])[0].coverage as Json).display).toEqual(expect.any(String));
    expect((eobOut.insurer as Json).display).toEqual(expect.any(String));
  });
});

describe('policy files', () => {
  const bad = (rules: unknown[]) => () =>
    compilePolicy(parsePolicy({ name: 'p', version: '1.0.0', rules }, 'policy file p.yaml'));
  it('names the rule and the field', () => {
    expect(bad([{ path: 'Patient.name', method: 'shred' }])).toThrow(/rules\.0\.method/);
    expect(
      bad([
        { path: 'Patient.name', method: 'keep' },
        { path: 'Patient..x', method: 'keep' },
      ]),
    ).toThrow(/rules\[1\]\.path/);
    expect(bad([{ path: "nodesByType('Banana')", method: 'redact' }])).toThrow(
      /rules\[0\]\.path: nodesByType: unknown type/,
    );
    expect(bad([{ path: 'Patient.address', method: 'generalize' }])).toThrow(/rules\[0\]\.kind/);
    expect(bad([{ path: 'Observation.value[x]', method: 'perturb' }])).toThrow(/rules\[0\]\.relative/);
    expect(bad([{ path: 'Patient.name', method: 'keep', extra: 1 }])).toThrow(/rules\.0/);
    // a nested level of a recursive element is decided by the rules of its first level: named on every resource
    // type, it cannot be folded to that level
    expect(bad([{ path: 'Resource.item.item.linkId', method: 'keep' }])).toThrow(
      /rules\[0\]\.path: Questionnaire(Response)?\.item\.item is a nested level of a recursive element/,
    );
    expect(
      compilePolicy(
        parsePolicy(
          {
            name: 'p',
            version: '1.0.0',
            rules: [{ path: 'QuestionnaireResponse.item.answer.item.linkId', method: 'keep' }],
          },
          'policy file p.yaml',
        ),
      ).rules[0].steps,
    ).toEqual(['item', 'linkId']);
    expect(() => parsePolicy({ name: 'p', version: 'v1', rules: [] }, 'policy file p.yaml')).toThrow(
      /version/,
    );
    // messages name where, never what: a value in the bad field is not echoed
    for (const rules of [
      [{ path: 'Patient.John Smith', method: 'keep' }],
      [{ path: 'Patient.name', method: 'John Smith' }],
    ]) {
      let message = '';
      try {
        bad(rules)();
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toMatch(/rules/);
      expect(message).not.toContain('John Smith');
    }
  });
});
