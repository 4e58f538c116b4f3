import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mapBuffer, validateFhirResource, type FhirResource } from '../mappers/index';
import { DATA_DIR, NMPA_LABEL, sample, sampleFiles } from '../mappers/test-support/data';
import { createDeidEngine, createKeyService } from './index';

/**
 * Drug labels, formularies and payer catalogs describe products and plans, not people. De-identification must not
 * strip what they are for (tiers, prior authorization, NRDL 甲类/乙类, payment standards, plan years), while the
 * policy stays fail closed for anything it does not name. Inputs are the real third-party samples in shared/data.
 */

const keyService = createKeyService({
  key: crypto.createHash('sha256').update('reference-data-test').digest(),
  keyId: 'k-ref',
});

type Json = Record<string, unknown>;

/** The Da Vinci formulary samples of one folder of shared/data/formulary, as the insurance source maps them. */
async function mapFormularySamples(dir: string): Promise<FhirResource[]> {
  const out: FhirResource[] = [];
  for (const f of sampleFiles(`formulary/${dir}`, '.json')) {
    const r = await mapBuffer('pdex-formulary', readFileSync(f), {
      institution: 'test-inst',
      sourceFile: basename(f),
    });
    out.push(...r.resources);
  }
  return out;
}

async function mapReferenceSamples(): Promise<FhirResource[]> {
  const out = await mapFormularySamples('seed-data-sample');
  // The first 12 drugs of the real NRDL catalog page (the whole file is 4,750 drugs).
  const nrdl = JSON.parse(sample('nrdl/nrdl_4750_drugs.json').toString('utf8')) as {
    data: { list: unknown[] };
  };
  nrdl.data.list = nrdl.data.list.slice(0, 12);
  out.push(
    ...(
      await mapBuffer('nrdl', Buffer.from(JSON.stringify(nrdl)), {
        institution: 'test-inst',
        sourceFile: 'nrdl.json',
      })
    ).resources,
  );
  out.push(
    ...(
      await mapBuffer('openfda', sample('druglabel/openfda-json/drug-label-5-records.json'), {
        institution: 'test-inst',
        sourceFile: 'openfda.json',
      })
    ).resources,
  );
  return out;
}

/** Every leaf path of a resource, extensions named by url, array positions ignored. */
function leafPaths(node: unknown, path = ''): Set<string> {
  const paths = new Set<string>();
  const visit = (n: unknown, p: string): void => {
    if (Array.isArray(n)) return n.forEach((x) => visit(x, p));
    if (n && typeof n === 'object') {
      const o = n as Json;
      for (const [k, v] of Object.entries(o)) {
        if (k === 'url' && typeof v === 'string') continue;
        visit(v, `${p}.${k}${typeof o.url === 'string' && k.startsWith('value') ? `@${o.url}` : ''}`);
      }
      return;
    }
    paths.add(p);
  };
  visit(node, path);
  return paths;
}

/** Elements the policy removes or replaces on purpose: a plan's contact people and their phones, a network's display name. */
const REMOVED_ON_PURPOSE = [
  /^\.contact\.name/,
  /^\.contact\.telecom/,
  /^\.plan\.network\.display/,
  /^\.manufacturer\.identifier/,
];

const extensionsOf = (r: Json): Json[] => (Array.isArray(r.extension) ? (r.extension as Json[]) : []);

describe.each(['safe-harbor', 'gbt-37964'] as const)('reference data under %s', (profile) => {
  it('keeps every element of formularies, catalogs and labels, with calendar dates unshifted and links intact', async () => {
    const input = await mapReferenceSamples();
    expect(input.map((r) => r.resourceType).sort()).toEqual(
      expect.arrayContaining([
        'Basic',
        'InsurancePlan',
        'MedicationKnowledge',
        'Medication',
        'DocumentReference',
      ]),
    );
    const engine = createDeidEngine({ profile, keyService });
    const result = engine.deidentifyResources(structuredClone(input), { institution: 'test-inst' });
    expect(result.quarantined).toEqual([]);
    expect(result.outputs).toHaveLength(input.length);

    const lost: string[] = [];
    input.forEach((before, i) => {
      const after = result.outputs[i] as Json;
      expect(after.resourceType).toBe(before.resourceType);
      const kept = leafPaths(after);
      for (const p of leafPaths(before)) {
        if (p.startsWith('.meta') || REMOVED_ON_PURPOSE.some((re) => re.test(p))) continue;
        if (!kept.has(p)) lost.push(`${before.resourceType}${p}`);
      }
      const issues = validateFhirResource(after as FhirResource).filter(
        (x) => x.severity === 'error' || x.severity === 'fatal',
      );
      expect(issues, `${before.resourceType} output is valid FHIR R4`).toEqual([]);
    });
    expect([...new Set(lost)]).toEqual([]);

    // A plan year and an availability period are facts about a product, not a person: not date-shifted.
    const periodsOf = (list: Json[]) =>
      list.flatMap((r) => [
        ...(r.resourceType === 'InsurancePlan' && r.period ? [r.period] : []),
        ...extensionsOf(r)
          .filter((e) => e.valuePeriod)
          .map((e) => e.valuePeriod),
      ]);
    const periodsBefore = periodsOf(input as Json[]);
    expect(periodsBefore.length).toBeGreaterThan(0);
    expect(periodsOf(result.outputs as Json[])).toEqual(periodsBefore);

    // Ids are pseudonymized, and every reference (formulary item → plan and drug) still resolves.
    const ids = new Set(result.outputs.map((r) => `${r.resourceType}/${r.id}`));
    const refs =
      JSON.stringify(result.outputs).match(
        /"reference":"(InsurancePlan|MedicationKnowledge|Medication)\/[^"]+"/g,
      ) ?? [];
    expect(refs.length).toBeGreaterThan(10);
    for (const ref of refs) expect(ids.has(ref.slice(13, -1)), ref).toBe(true);
    expect(ids.has(`${input[0].resourceType}/${input[0].id}`)).toBe(false);

    // NRDL 甲类/乙类 and payment standards survive in the original text.
    const nrdlOut = JSON.stringify(result.outputs);
    expect(nrdlOut).toMatch(/"display":"[甲乙]类"/);
  });

  it('still removes what the policy does not name, on the same resources', async () => {
    const [item] = (await mapReferenceSamples()).filter((r) => r.resourceType === 'Basic');
    const planted = structuredClone(item) as Json;
    planted.extension = [
      ...extensionsOf(planted),
      { url: 'urn:example:member-name', valueString: 'Jane Q. Public' },
    ];
    planted.author = { reference: 'Patient/p-1', display: 'Jane Q. Public' };
    const engine = createDeidEngine({ profile, keyService });
    const result = engine.deidentifyResources([planted as FhirResource], { institution: 'test-inst' });
    const out = JSON.stringify([...result.outputs, ...result.quarantined]);
    expect(out).not.toContain('Jane');
    expect(out).not.toContain('urn:example:member-name');
  });
});

const texts = (list: FhirResource[]) =>
  list
    .filter((r) => r.resourceType === 'DocumentReference')
    .flatMap((r) => (r.content as { attachment: { data?: string } }[]).map((c) => c.attachment.data ?? ''))
    .map((d) => Buffer.from(d, 'base64').toString('utf8'));

async function openFdaLabels(): Promise<FhirResource[]> {
  const file = join(DATA_DIR, 'druglabel', 'openfda-json', 'drug-label-5-records.json');
  const mapped = await mapBuffer('openfda', readFileSync(file), {
    institution: 'riverside-general',
    sourceFile: 'drug-label-5-records.json',
  });
  expect(mapped.recordsRejected).toBe(0);
  return mapped.resources;
}

describe('the reference-data profile (drug labels, formularies, catalogs)', () => {
  it('keeps a real label as written, Poison Control number and manufacturer address included; ids still pseudonymized', async () => {
    const raw = await openFdaLabels();
    const engine = createDeidEngine({ profile: 'reference-data', keyService });
    const res = engine.deidentifyResources(structuredClone(raw), { institution: 'riverside-general' });
    expect(res.quarantined).toEqual([]);
    expect(texts(res.outputs)).toEqual(texts(raw));
    const all = texts(res.outputs).join('\n');
    expect(all).toContain('1-800-222-1222');
    expect(all).toContain('17177 N. Laurel Park Drive, Suite 233 Livonia, MI 48152');
    // links hold: ids are pseudonyms, and a MedicationKnowledge points at its label under the label's new id
    const doc = res.outputs.find((r) => r.resourceType === 'DocumentReference')!;
    expect(raw.map((r) => r.id)).not.toContain(doc.id);
    expect(JSON.stringify(res.outputs)).toContain(`"reference":"DocumentReference/${doc.id}"`);
    expect(doc.date).toBe(raw.find((r) => r.resourceType === 'DocumentReference')!.date);

    // Under safe-harbor, the same label lost them (the reason for this profile).
    const sh = createDeidEngine({ profile: 'safe-harbor', keyService }).deidentifyResources(
      structuredClone(raw),
      {
        institution: 'riverside-general',
      },
    );
    expect(texts(sh.outputs).join('\n')).not.toContain('1-800-222-1222');
  });

  it('quarantines anything about or pointing at a person, by rule and path', () => {
    const engine = createDeidEngine({ profile: 'reference-data', keyService });
    const inputs: FhirResource[] = [
      { resourceType: 'Patient', id: 'p1', name: [{ family: 'Okafor' }] },
      {
        resourceType: 'Coverage',
        id: 'c1',
        status: 'active',
        beneficiary: { reference: 'Patient/p1' },
        payor: [],
      },
      {
        resourceType: 'DocumentReference',
        id: 'd1',
        status: 'current',
        subject: { reference: 'Patient/p1' },
        content: [
          {
            attachment: {
              contentType: 'text/plain',
              data: Buffer.from('Seen by Dr Okafor').toString('base64'),
            },
          },
        ],
      },
      {
        resourceType: 'DocumentReference',
        id: 'd2',
        status: 'current',
        context: { encounter: [{ reference: 'Encounter/e1' }] },
        content: [{ attachment: { contentType: 'text/plain', title: 'note' } }],
      },
      { resourceType: 'Basic', id: 'b1', code: { text: 'x' }, subject: { display: 'Mrs Okafor' } },
      // a conditional reference names its target type before the query
      {
        resourceType: 'Basic',
        id: 'b3',
        code: { text: 'x' },
        extension: [{ url: 'urn:x', valueReference: { reference: 'Patient?identifier=urn:mrn|MRN-778812' } }],
      },
      // a formulary item: its subject is the drug
      {
        resourceType: 'Basic',
        id: 'b2',
        code: { text: 'formulary item' },
        subject: { reference: 'MedicationKnowledge/m1' },
      },
    ];
    const res = engine.deidentifyResources(inputs, { institution: 'riverside-general' });
    expect(res.quarantined.map((q) => `${q.rule} ${q.path}`)).toEqual([
      'reference-data.not-a-description Patient',
      'reference-data.not-a-description Coverage',
      'reference-data.about-a-person DocumentReference.subject',
      'reference-data.about-a-person DocumentReference.context.encounter[0].reference',
      'reference-data.about-a-person Basic.subject',
      'reference-data.about-a-person Basic.extension[0].valueReference.reference',
    ]);
    expect(res.outputs.map((r) => r.resourceType)).toEqual(['Basic']);
    expect(JSON.stringify(res.quarantined)).not.toContain('Okafor');
  });

  it("scrubs what is not the label's own text: a catalog naming its institution, a plan's identifier", () => {
    // The synthetic formularies name their hospital ("Riverside General Employee Formulary 2025"), which the release
    // pseudonymizes everywhere else: kept, the plan name would name the source of every record beside it.
    const engine = createDeidEngine({ profile: 'reference-data', keyService });
    const res = engine.deidentifyResources(
      [
        {
          resourceType: 'InsurancePlan',
          id: 'Formulary-riverside-general',
          identifier: [{ value: 'RIVERSIDE-GENERAL-F4821' }],
          status: 'active',
          name: 'Riverside General Hospital Employee Formulary 2025',
          period: { start: '2025-01-01', end: '2025-12-31' },
        },
      ],
      { institution: 'riverside-general' },
    );
    expect(res.quarantined).toEqual([]);
    const out = JSON.stringify(res.outputs);
    expect(out).not.toContain('Riverside General');
    expect(out).not.toContain('RIVERSIDE-GENERAL-F4821');
    expect(res.outputs[0].period).toEqual({ start: '2025-01-01', end: '2025-12-31' });
  });

  it('takes a Da Vinci STU1 plan (a List of its drugs) with its tiers and cost sharing, and no other List', async () => {
    const input = await mapFormularySamples('stu1-examples');
    expect(input.map((r) => r.resourceType).sort()).toEqual([
      'List',
      'List',
      'List',
      'MedicationKnowledge',
      'MedicationKnowledge',
      'MedicationKnowledge',
    ]);
    const engine = createDeidEngine({ profile: 'reference-data', keyService });
    const res = engine.deidentifyResources(structuredClone(input), { institution: 'test-inst' });
    expect(res.quarantined).toEqual([]);
    expect(res.outputs).toHaveLength(6);
    const tiersOf = (list: FhirResource[], type: string) =>
      list
        .filter((r) => r.resourceType === type)
        .map((r) =>
          extensionsOf(r as Json)
            .filter((e) => /DrugTier|PriorAuthorization|StepTherapy|QuantityLimit/.test(e.url as string))
            .map((e) => JSON.stringify(e)),
        );
    for (const type of ['List', 'MedicationKnowledge']) {
      expect(tiersOf(input, type).flat().length).toBeGreaterThan(3);
      expect(tiersOf(res.outputs, type)).toEqual(tiersOf(input, type));
    }
    for (const out of res.outputs) {
      const issues = validateFhirResource(out).filter(
        (x) => x.severity === 'error' || x.severity === 'fatal',
      );
      expect(issues, `${out.resourceType} output is valid FHIR R4`).toEqual([]);
    }
    // the plan's date is a calendar fact; its entries still name its drugs under their new ids
    const lists = res.outputs.filter((r) => r.resourceType === 'List');
    expect(lists.map((l) => l.date)).toEqual(
      input.filter((r) => r.resourceType === 'List').map((l) => l.date),
    );
    const ids = new Set(res.outputs.map((r) => `${r.resourceType}/${r.id}`));
    for (const l of lists)
      for (const e of l.entry as { item: { reference: string } }[]) expect(ids).toContain(e.item.reference);
    // A real example's plan contact is a person's email: not published, nor are the plan's URLs
    expect(JSON.stringify(input)).toContain('@carefirst.com');
    expect(JSON.stringify(res.outputs)).not.toMatch(/carefirst|EmailPlanContact|MarketingURL/i);

    // A List is as often a person's: one whose entry is not a product, or with no entry, is refused
    const problems: FhirResource = {
      resourceType: 'List',
      id: 'l1',
      status: 'current',
      mode: 'working',
      entry: [{ item: { reference: 'MedicationKnowledge/m1' } }, { item: { reference: 'Condition/c1' } }],
    };
    const empty: FhirResource = { resourceType: 'List', id: 'l2', status: 'current', mode: 'working' };
    const refused = engine.deidentifyResources([problems, empty], { institution: 'test-inst' });
    expect(refused.quarantined.map((q) => `${q.rule} ${q.path}`)).toEqual([
      'reference-data.not-a-description List.entry[1].item',
      'reference-data.not-a-description List.entry',
    ]);
  });

  it("names a payer and a plan's service area (its boundary too), and a STU1 drug still names its plan", async () => {
    const input = (await mapFormularySamples('ig-examples')).filter(
      (r) => r.resourceType === 'Organization' || r.resourceType === 'Location',
    );
    const [drug] = (await mapFormularySamples('stu1-examples')).filter(
      (r) => r.resourceType === 'MedicationKnowledge',
    );
    const planIdOf = (r: FhirResource) =>
      extensionsOf(r as Json).find((e) => String(e.url).endsWith('usdf-PlanID-extension'))?.valueString;
    // The plan the drug names, by the plan id as a STU1 CoveragePlan carries it (an identifier without a system).
    const plan: FhirResource = {
      resourceType: 'List',
      id: 'plan',
      status: 'current',
      mode: 'snapshot',
      identifier: [{ value: planIdOf(drug) }],
      entry: [{ item: { reference: `MedicationKnowledge/${drug.id}` } }],
    };
    const engine = createDeidEngine({ profile: 'reference-data', keyService });
    const res = engine.deidentifyResources(structuredClone([...input, drug, plan]), {
      institution: 'test-inst',
    });
    expect(res.quarantined).toEqual([]);
    const byType = (type: string) => res.outputs.find((r) => r.resourceType === type) as Json;
    expect(byType('Organization').name).toBe('Acme Health Plan');
    const area = input.find((r) => r.resourceType === 'Location') as Json;
    expect(byType('Location').name).toBe(area.name);
    expect(extensionsOf(byType('Location'))).toEqual(extensionsOf(area));
    expect(planIdOf(drug)).toMatch(/^\d{5}[A-Z]{2}\d{7}$/);
    const hashed = planIdOf(byType('MedicationKnowledge') as FhirResource);
    expect(hashed).not.toBe(planIdOf(drug));
    expect(hashed).toBe((byType('List').identifier as { value: string }[])[0].value);
  });

  it('keeps a document only when it is typed as a label: a note without its subject, or a label holding a record number, is quarantined', async () => {
    const engine = createDeidEngine({ profile: 'reference-data', keyService });
    // Every real label the mappers read is typed as one and passes: openFDA, SPL (Rx, OTC, pharmacologic class
    // indexing, one without a title) and an NMPA label.
    const labels = [...(await openFdaLabels())];
    for (const f of sampleFiles('druglabel/spl-xml', '.xml'))
      labels.push(
        ...(await mapBuffer('spl', readFileSync(f), { institution: 'test-inst', sourceFile: basename(f) }))
          .resources,
      );

    labels.push(
      ...(
        await mapBuffer('cn-label', Buffer.from(NMPA_LABEL), {
          institution: 'test-inst',
          sourceFile: 'l.txt',
        })
      ).resources,
    );
    const docs = labels.filter((r) => r.resourceType === 'DocumentReference');
    expect(docs.length).toBeGreaterThanOrEqual(12);
    const kept = engine.deidentifyResources(structuredClone(labels), { institution: 'test-inst' });
    expect(kept.quarantined.map((q) => `${q.rule} ${q.path}`)).toEqual([]);
    expect(texts(kept.outputs)).toEqual(texts(labels));

    // The real Synthea notes, their subject and encounter stripped as a mislabelled feed might send them: each is
    // typed as a note (LOINC 34117-2), not a label.
    const notes = readFileSync(
      join(DATA_DIR, 'fhir', 'bulk-ndjson-10-patients', 'DocumentReference.000.first40.ndjson'),
      'utf8',
    )
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => {
        const { subject: _s, context: _c, author: _a, custodian: _cu, ...rest } = JSON.parse(l) as Json;
        return rest as FhirResource;
      });
    const untyped: FhirResource = {
      resourceType: 'DocumentReference',
      id: 'untyped',
      status: 'current',
      content: [
        { attachment: { contentType: 'text/plain', data: Buffer.from('Seen today.').toString('base64') } },
      ],
    };
    const labelType = { coding: [{ system: 'http://loinc.org', code: '34391-3' }] };
    const withMrn: FhirResource = {
      resourceType: 'DocumentReference',
      id: 'mrn',
      status: 'current',
      type: labelType,
      content: [
        {
          attachment: {
            contentType: 'text/plain',
            title: 'INDICATIONS',
            data: Buffer.from('For adults.').toString('base64'),
          },
        },
        {
          attachment: {
            contentType: 'text/plain',
            data: Buffer.from('Refill for Okafor, MRN: 77881234, as before.').toString('base64'),
          },
        },
      ],
    };
    const pdf: FhirResource = {
      resourceType: 'DocumentReference',
      id: 'pdf',
      status: 'current',
      type: labelType,
      content: [
        { attachment: { contentType: 'application/pdf', data: Buffer.from('%PDF-1.7').toString('base64') } },
      ],
    };
    const res = engine.deidentifyResources([...notes, untyped, withMrn, pdf], { institution: 'test-inst' });
    expect(res.outputs).toEqual([]);
    expect(res.quarantined.map((q) => `${q.rule} ${q.path}`)).toEqual([
      ...notes.map(() => 'reference-data.not-a-label DocumentReference.type'),
      'reference-data.not-a-label DocumentReference.type',
      'reference-data.about-a-person DocumentReference.content[1].attachment.data',
      'reference-data.not-a-description DocumentReference.content[0].attachment.data',
    ]);
    const mrn = res.quarantined.find((q) => q.path.includes('content[1]'))!;
    expect(mrn.reason).toContain('text.mrn-context');
    expect(JSON.stringify(res.quarantined.map((q) => [q.rule, q.path, q.reason]))).not.toMatch(
      /77881234|Okafor/,
    );
  });
});
