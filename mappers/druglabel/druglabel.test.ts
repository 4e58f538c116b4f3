import { basename } from 'node:path';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NMPA_LABEL, byType, expectReconciled, sample, sampleFiles } from '../test-support/data';
import type { FhirResource, MapContext } from '../types';
import { mapCnLabel } from './cn-label';
import { labelResources } from './label';
import { mapOpenFda } from './openfda';
import { mapSpl } from './spl';

const ctx: MapContext = { institution: 'test-inst', sourceFile: 'label' };
const decode = (doc: FhirResource, i: number): string =>
  Buffer.from((doc.content as { attachment: { data: string } }[])[i].attachment.data, 'base64').toString(
    'utf8',
  );
const titles = (doc: FhirResource): string[] =>
  (doc.content as { attachment: { title: string } }[]).map((c) => c.attachment.title);

describe('mapSpl', () => {
  it('maps every real SPL document (validation exercised on the smaller ones)', () => {
    for (const f of sampleFiles('druglabel/spl-xml', '.xml')) {
      const r = mapSpl(readFileSync(f), {
        ...ctx,
        sourceFile: basename(f),
        validate: readFileSync(f).length < 200_000,
      });
      expectReconciled(r);
      expect(r.recordsMapped).toBe(1);
    }
  });

  it('gives a section without text its title alone: FHIR has no empty strings', () => {
    const [doc] = labelResources({
      institution: 'test-inst',
      key: 'set-1',
      sections: [
        { code: '48780-1', title: 'SPL PRODUCT DATA ELEMENTS SECTION', text: '' },
        { code: '34067-9', title: '1 INDICATIONS AND USAGE', text: 'Reduces LDL-C.' },
      ],
      products: [],
    });
    const [empty, kept] = (doc.content as { attachment: Record<string, unknown> }[]).map((c) => c.attachment);
    expect(empty).toEqual({
      contentType: 'text/plain; charset=utf-8',
      title: 'SPL PRODUCT DATA ELEMENTS SECTION (LOINC 48780-1)',
    });
    expect(Buffer.from(kept.data as string, 'base64').toString('utf8')).toBe('Reduces LDL-C.');
  });

  it('keeps sections as text and maps products with NDC, UNII ingredients, strength and set id', () => {
    const r = mapSpl(sample('druglabel/spl-xml/lipitor-orig.xml'), ctx);
    const [doc] = byType(r, 'DocumentReference');
    expect(doc.type).toMatchObject({ coding: [{ system: 'http://loinc.org', code: '34391-3' }] });
    expect(doc.date).toBe('2014-01-13T00:00:00Z');
    const i = titles(doc).findIndex((t) => t.includes('34067-9'));
    expect(decode(doc, i)).toContain('Therapy with lipid-altering agents');
    const mks = byType(r, 'MedicationKnowledge');
    expect(mks).toHaveLength(4);
    expect(mks[0]).toMatchObject({
      code: { coding: [{ system: 'http://hl7.org/fhir/sid/ndc', code: '0071-0155' }], text: 'Lipitor' },
      ingredient: expect.arrayContaining([
        expect.objectContaining({
          itemCodeableConcept: expect.objectContaining({
            coding: [{ system: 'http://fdasis.nlm.nih.gov', code: '48A5M73Z4Q' }],
          }),
          isActive: true,
        }),
      ]),
      monograph: [{ source: { reference: `DocumentReference/${doc.id}` } }],
    });
    const [med] = byType(r, 'Medication');
    expect(med.identifier).toEqual(
      expect.arrayContaining([
        { system: 'urn:tributary:spl-set-id', value: 'c6e131fe-e7df-4876-83f7-9156fc4e8228' },
      ]),
    );
  });

  it('refuses entity declarations (XML bomb) and reports malformed XML with line and column', () => {
    const bomb =
      '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><document xmlns="urn:hl7-org:v3">&b;</document>';
    const r = mapSpl(Buffer.from(bomb), ctx);
    expectReconciled(r);
    expect(r.issues[0]).toMatchObject({ code: 'security', location: ['label:$:DOCTYPE'] });
    const cut = sample('druglabel/spl-xml/cough.xml').subarray(0, 3000);
    const bad = mapSpl(cut, ctx);
    expectReconciled(bad);
    expect(bad.recordsRejected).toBe(1);
    expect(bad.issues[0].location?.[0]).toMatch(/^label:\$:line \d+ column \d+$/);
  });
});

describe('mapOpenFda', () => {
  it('maps each result with RxNorm, NDC, UNII and text sections', () => {
    const r = mapOpenFda(sample('druglabel/openfda-json/drug-label-5-records.json'), ctx);
    expectReconciled(r);
    expect(r.recordsIn).toBe(5);
    expect(r.recordsMapped).toBe(5);
    const [mk] = byType(r, 'MedicationKnowledge');
    expect((mk.code as { coding: { system: string; code: string }[] }).coding).toEqual(
      expect.arrayContaining([
        { system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '198440' },
        { system: 'http://hl7.org/fhir/sid/ndc', code: '0615-2542' },
      ]),
    );
    const [doc] = byType(r, 'DocumentReference');
    expect(titles(doc)).toContain('indications and usage');
  });

  it('rejects a result with wrong types at its JSON path and keeps the others', () => {
    const body = JSON.parse(sample('druglabel/openfda-json/drug-label-5-records.json').toString('utf8'));
    body.results[2].warnings = 42;
    const r = mapOpenFda(Buffer.from(JSON.stringify(body)), ctx);
    expectReconciled(r);
    expect(r.recordsMapped).toBe(4);
    expect(r.issues[0].location).toEqual(['label:$.results[2]:warnings']);
  });
});

describe('mapCnLabel', () => {
  const label = NMPA_LABEL;

  it('keeps Chinese sections and the 国药准字 identifier', () => {
    const r = mapCnLabel(Buffer.from(label), ctx);
    expectReconciled(r);
    const [doc] = byType(r, 'DocumentReference');
    expect(titles(doc)).toEqual([
      '核准/修改日期',
      '药品名称',
      '成份',
      '适应症',
      '用法用量',
      '批准文号',
      '生产企业',
    ]);
    expect(decode(doc, 3)).toBe('高胆固醇血症。');
    expect(doc.date).toBe('2024-10-24T00:00:00+08:00');
    // An NMPA label states no LOINC type: it is typed as a label all the same (reference-data keeps labels only).
    expect(doc.type).toEqual({
      coding: [{ system: 'urn:tributary:document-kind', code: 'drug-label', display: 'drug label' }],
    });
    const [med] = byType(r, 'Medication');
    expect(med.identifier).toEqual([
      { system: 'urn:tributary:cn-nmpa-approval-number', value: '国药准字H20051408' },
    ]);
    const [mk] = byType(r, 'MedicationKnowledge');
    expect(mk).toMatchObject({
      code: { text: '阿托伐他汀钙片' },
      synonym: ['立普妥', 'Atorvastatin Calcium Tablets'],
      ingredient: [{ itemCodeableConcept: { text: '阿托伐他汀钙' } }],
    });
  });

  it('rejects a label without a required section, or in the wrong encoding', () => {
    const missing = mapCnLabel(Buffer.from(label.replace('【适应症】', '【其他】')), ctx);
    expectReconciled(missing);
    expect(missing.issues[0].location).toEqual(['label:$:【适应症】']);
    const gbk = mapCnLabel(Buffer.from([0xb9, 0xfa, 0xd2, 0xa9, 0xd7, 0xbc, 0xd7, 0xd6, 0xff]), ctx);
    expectReconciled(gbk);
    expect(gbk.recordsRejected).toBe(1);
  });
});
