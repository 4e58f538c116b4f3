import { basename } from 'node:path';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { byType, expectReconciled, sample, sampleFiles } from '../test-support/data';
import type { FhirResource, MapContext } from '../types';
import { NRDL_EXTENSIONS, mapNrdl } from './nrdl';
import { mapPdexFormulary } from './pdex';

const ctx: MapContext = { institution: 'test-inst', sourceFile: 'nrdl.json' };
const ext = (r: FhirResource, url: string): Record<string, unknown> | undefined =>
  (r.extension as { url: string }[]).find((e) => e.url === url);

describe('mapNrdl', () => {
  const full = JSON.parse(sample('nrdl/nrdl_4750_drugs.json').toString('utf8'));

  it('maps every catalogue item of the real 2024 NRDL (structure only: validation measured in bench/)', () => {
    const r = mapNrdl(sample('nrdl/nrdl_4750_drugs.json'), { ...ctx, validate: false });
    expectReconciled(r);
    expect(r.recordsIn).toBe(4750);
    expect(r.recordsMapped).toBe(4750);
    expect(byType(r, 'InsurancePlan')).toHaveLength(1);
    expect(byType(r, 'Basic')).toHaveLength(4750);
  });

  it('validates and carries 甲/乙, negotiated status, payment standard, agreement period and restrictions', () => {
    const negotiated = full.data.list.find((x: { id: number }) => x.id === 3400);
    const classA = full.data.list.find((x: { kind: number }) => x.kind === 1);
    const slice = { ...full, data: { ...full.data, list: [negotiated, classA] } };
    const r = mapNrdl(Buffer.from(JSON.stringify(slice)), ctx);
    expectReconciled(r);
    expect(r.recordsMapped).toBe(2);
    const [b1, b2] = byType(r, 'Basic');
    expect(ext(b1, NRDL_EXTENSIONS.category)).toMatchObject({ valueCoding: { code: 'B', display: '乙类' } });
    expect(ext(b1, NRDL_EXTENSIONS.negotiated)).toMatchObject({ valueBoolean: true });
    expect(ext(b1, NRDL_EXTENSIONS.paymentStandard)).toMatchObject({
      extension: [
        { url: 'amount', valueMoney: { value: 63, currency: 'CNY' } },
        { url: 'unit', valueString: '10mg/支' },
        { url: 'text' },
      ],
    });
    expect(ext(b1, NRDL_EXTENSIONS.agreementPeriod)).toMatchObject({
      valuePeriod: { start: '2024-01-01', end: '2025-12-31' },
    });
    expect(ext(b1, NRDL_EXTENSIONS.paymentRestriction)).toMatchObject({
      valueString: '限：1.预防重症患者应激性溃疡出血；2.消化性溃疡出血。',
    });
    expect(ext(b2, NRDL_EXTENSIONS.category)).toMatchObject({ valueCoding: { code: 'A', display: '甲类' } });
    expect(ext(b2, NRDL_EXTENSIONS.negotiated)).toMatchObject({ valueBoolean: false });
    const [mk] = byType(r, 'MedicationKnowledge');
    expect(mk).toMatchObject({
      code: { text: '注射用艾普拉唑钠' },
      medicineClassification: [{ classification: [{ coding: [{ code: 'XA02BC' }] }] }],
    });
    expect(b1.subject).toEqual({ reference: `MedicationKnowledge/${mk.id}` });
  });

  it('rejects bad items with JSON paths and keeps the rest', () => {
    const list = [
      full.data.list[0],
      { ...full.data.list[1], name: 7 },
      { ...full.data.list[2], kind: 9 },
      'oops',
    ];
    const r = mapNrdl(Buffer.from(JSON.stringify({ ...full, data: { ...full.data, list } })), ctx);
    expectReconciled(r);
    expect(r.recordsMapped).toBe(1);
    expect(r.issues.map((i) => i.location?.[0])).toEqual([
      'nrdl.json:$.data.list[1]:name',
      'nrdl.json:$.data.list[2]:kind',
      'nrdl.json:$.data.list[3]:$',
    ]);
  });
});

describe('mapPdexFormulary', () => {
  it('normalizes every real PDex example and seed resource without rejecting any', () => {
    const files = sampleFiles('formulary', '.json');
    expect(files.length).toBeGreaterThan(20);
    for (const f of files) {
      const r = mapPdexFormulary(readFileSync(f), { ...ctx, sourceFile: basename(f) });
      expectReconciled(r);
      expect(r.recordsRejected).toBe(0);
    }
  });

  it('rewrites FormularyItem subject and formulary references to the stable ids of the drugs and plans', () => {
    const item = mapPdexFormulary(
      sampleFiles('formulary/ig-examples').filter((f) => basename(f).startsWith('Basic'))[0]
        ? readFileSync(sampleFiles('formulary/ig-examples').filter((f) => basename(f).startsWith('Basic'))[0])
        : Buffer.from('{}'),
      ctx,
    );
    const [basic] = byType(item, 'Basic');
    expect((basic.subject as { reference: string }).reference).toMatch(/^MedicationKnowledge\/[0-9a-f]{16}$/);
  });
});
