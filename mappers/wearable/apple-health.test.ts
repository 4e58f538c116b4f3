import { Readable } from 'node:stream';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mapFile } from '../index';
import { patientStableId } from '../ids';
import { DATA_DIR, byType, expectReconciled } from '../test-support/data';
import type { FhirResource, MapContext, MapResult } from '../types';
import { mapAppleHealthStream } from './apple-health';

const ctx: MapContext = { institution: 'test-inst', sourceFile: 'export.xml', subjectMrn: 'M1' };

function xml(body: string): Readable {
  return Readable.from([
    Buffer.from(
      `<?xml version="1.0" encoding="UTF-8"?>\n<HealthData locale="en_US">\n<ExportDate value="2024-01-01 00:00:00 +0000"/>\n${body}\n</HealthData>\n`,
    ),
  ]);
}

const code = (o: FhirResource): string[] =>
  ((o.code as { coding: { code: string }[] }).coding ?? []).map((c) => c.code);

describe('mapAppleHealthStream', () => {
  it('maps SpO2 fractions to %, steps, temperature, sleep stages and a blood pressure panel with LOINC + UCUM', async () => {
    const r = await mapAppleHealthStream(
      xml(`
 <Record type="HKQuantityTypeIdentifierOxygenSaturation" sourceName="W" unit="%" creationDate="2024-01-01 08:00:00 +0800" startDate="2024-01-01 08:00:00 +0800" endDate="2024-01-01 08:00:00 +0800" value="0.97"/>
 <Record type="HKQuantityTypeIdentifierStepCount" sourceName="W" unit="count" startDate="2024-01-01 08:00:00 +0800" endDate="2024-01-01 08:10:00 +0800" value="812"/>
 <Record type="HKQuantityTypeIdentifierBodyTemperature" sourceName="W" unit="degC" startDate="2024-01-01 08:00:00 +0800" endDate="2024-01-01 08:00:00 +0800" value="36.6"/>
 <Record type="HKCategoryTypeIdentifierSleepAnalysis" sourceName="W" startDate="2024-01-01 01:00:00 +0800" endDate="2024-01-01 02:30:00 +0800" value="HKCategoryValueSleepAnalysisAsleepDeep"/>
 <Correlation type="HKCorrelationTypeIdentifierBloodPressure" sourceName="W" startDate="2024-01-01 09:00:00 +0800" endDate="2024-01-01 09:00:00 +0800">
  <Record type="HKQuantityTypeIdentifierBloodPressureSystolic" sourceName="W" unit="mmHg" startDate="2024-01-01 09:00:00 +0800" endDate="2024-01-01 09:00:00 +0800" value="121"/>
  <Record type="HKQuantityTypeIdentifierBloodPressureDiastolic" sourceName="W" unit="mmHg" startDate="2024-01-01 09:00:00 +0800" endDate="2024-01-01 09:00:00 +0800" value="79"/>
 </Correlation>`),
      ctx,
    );
    expectReconciled(r);
    expect(r.recordsIn).toBe(5);
    expect(r.recordsMapped).toBe(5);
    const [spo2, steps, temp, sleep, bp] = byType(r, 'Observation');
    expect(code(spo2)).toEqual(['59408-5', '2708-6', 'HKQuantityTypeIdentifierOxygenSaturation']);
    expect(spo2.valueQuantity).toEqual({
      value: 97,
      unit: '%',
      system: 'http://unitsofmeasure.org',
      code: '%',
    });
    expect(spo2.subject).toEqual({ reference: `Patient/${patientStableId('test-inst', 'M1')}` });
    expect(spo2.effectiveDateTime).toBe('2024-01-01T08:00:00+08:00');
    expect(code(steps)[0]).toBe('55423-8');
    expect(steps.valueQuantity).toMatchObject({ value: 812, code: '{steps}' });
    expect(steps.effectivePeriod).toEqual({
      start: '2024-01-01T08:00:00+08:00',
      end: '2024-01-01T08:10:00+08:00',
    });
    expect(temp.valueQuantity).toMatchObject({ value: 36.6, code: 'Cel' });
    expect(code(sleep)[0]).toBe('93831-6');
    expect(sleep.valueQuantity).toMatchObject({ value: 1.5, code: 'h' });
    expect(code(bp)[0]).toBe('85354-9');
    expect(bp.component).toEqual([
      expect.objectContaining({
        code: { coding: [expect.objectContaining({ code: '8480-6' })] },
        valueQuantity: expect.objectContaining({ value: 121, code: 'mm[Hg]' }),
      }),
      expect.objectContaining({
        code: { coding: [expect.objectContaining({ code: '8462-4' })] },
        valueQuantity: expect.objectContaining({ value: 79 }),
      }),
    ]);
  });

  it('windows heart rate into summaries or SampledData, counting every sample', async () => {
    const samples = [60, 70, 80, 90]
      .map(
        (v, i) =>
          `<Record type="HKQuantityTypeIdentifierHeartRate" sourceName="W" device="&lt;&lt;HKDevice: 0x1&gt;, name:Apple Watch, manufacturer:Apple, model:Watch, hardware:Watch1,1, software:2.0&gt;" unit="count/min" startDate="2024-01-01 08:0${i}:00 +0000" endDate="2024-01-01 08:0${i}:00 +0000" value="${v}"/>`,
      )
      .join('\n');
    const summary = await mapAppleHealthStream(xml(samples), ctx);
    expectReconciled(summary);
    expect(summary.recordsIn).toBe(4);
    expect(summary.recordsMapped).toBe(4);
    const [dev] = byType(summary, 'Device');
    expect(dev).toMatchObject({
      manufacturer: 'Apple',
      deviceName: [{ name: 'Apple Watch', type: 'user-friendly-name' }],
    });
    const [hr] = byType(summary, 'Observation');
    expect(code(hr)).toEqual(['8867-4']);
    expect(hr.effectivePeriod).toEqual({
      start: '2024-01-01T08:00:00.000Z',
      end: '2024-01-01T09:00:00.000Z',
    });
    expect(hr.valueQuantity).toMatchObject({ value: 75, code: '/min' });
    expect(hr.device).toEqual({ reference: `Device/${dev.id}` });
    expect(
      (hr.component as { valueQuantity?: { value: number }; valueInteger?: number }[]).map(
        (c) => c.valueQuantity?.value ?? c.valueInteger,
      ),
    ).toEqual([60, 90, 4]);

    const sampled = await mapAppleHealthStream(xml(samples), {
      ...ctx,
      sampledData: true,
      windowSeconds: 300,
    });
    const [hr2] = byType(sampled, 'Observation');
    expect(hr2.valueSampledData).toMatchObject({ period: 60000, dimensions: 1, data: '60 70 80 90 E' });
  });

  it('maps every record of the real exports and reconciles', async () => {
    const small = await mapFile(
      'apple-health',
      join(DATA_DIR, 'apple-health/tdda-applehealthdata/export6s3sample.xml'),
      ctx,
    );
    expectReconciled(small);
    expect(small.recordsIn).toBe(18);
    expect(small.recordsRejected).toBe(0);
    const batches: MapResult[] = [];
    const total = await mapFile(
      'apple-health',
      join(DATA_DIR, 'apple-health/hkimport/export.xml'),
      { ...ctx, validate: false },
      async (b) => {
        batches.push(b);
      },
    );
    // 11k Records + 61 Workouts; the 34 Food correlations repeat top-level Records and are reported, not mapped twice.
    expect(total.recordsIn).toBeGreaterThan(10900);
    expect(total.recordsIn).toBe(total.recordsMapped + total.recordsRejected);
    expect(total.recordsRejected).toBe(0);
    expect(batches.length).toBeGreaterThan(1);
    expect(batches.reduce((n, b) => n + b.recordsIn, 0)).toBe(total.recordsIn);
    const issues = batches.flatMap((b) => b.issues);
    expect(issues.some((i) => i.diagnostics?.includes('Food correlation'))).toBe(true);
    // The owner's name in sourceName ("Jonathan's iPhone") never reaches a resource.
    expect(JSON.stringify(batches.flatMap((b) => b.resources))).not.toContain('Jonathan');
  });

  it('stops at malformed XML with a fatal issue naming line and column, keeping what came before', async () => {
    const r = await mapFile(
      'apple-health',
      join(DATA_DIR, 'apple-health/hkimport/exportSmall_MALFORMED.xml'),
      ctx,
    );
    expectReconciled(r);
    expect(r.recordsMapped).toBeGreaterThan(0);
    const fatal = r.issues.find((i) => i.severity === 'fatal');
    expect(fatal?.location?.[0]).toMatch(/^export\.xml:line 153 column \d+$/);
  });

  it('does not expand entity bombs and does not crash on bad values', async () => {
    const bomb = `<?xml version="1.0"?>
<!DOCTYPE HealthData [<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>
<HealthData><Record type="HKQuantityTypeIdentifierStepCount" sourceName="&d;" unit="count" startDate="2024-01-01 08:00:00 +0000" endDate="2024-01-01 08:00:00 +0000" value="1"/></HealthData>`;
    const r = await mapAppleHealthStream(Readable.from([Buffer.from(bomb)]), ctx);
    expectReconciled(r);
    expect(r.issues.some((i) => i.severity === 'fatal')).toBe(true);
    const bad = await mapAppleHealthStream(
      xml(`<Record type="HKQuantityTypeIdentifierStepCount" sourceName="W" unit="count" startDate="yesterday" endDate="2024-01-01 08:00:00 +0000" value="1"/>
<Record type="HKQuantityTypeIdentifierStepCount" sourceName="W" unit="count" startDate="2024-01-01 08:00:00 +0000" endDate="2024-01-01 08:00:00 +0000" value="many"/>
<Record type="HKQuantityTypeIdentifierHeartRate" sourceName="W" unit="count/min" startDate="2024-01-01 08:00:00 +0000" endDate="2024-01-01 08:00:00 +0000" value=""/>`),
      ctx,
    );
    expectReconciled(bad);
    expect(bad.recordsRejected).toBe(3);
    expect(bad.issues.map((i) => i.location?.[0])).toEqual([
      'export.xml:line 4 Record:startDate',
      'export.xml:line 5 Record:value',
      'export.xml:line 6 Record:value',
    ]);
  });
});

describe('mapAppleHealthStream on pieces of a larger export (a file drop split into pages)', () => {
  const sample = (minute: number, v: number, bad = false) =>
    `<Record type="HKQuantityTypeIdentifierHeartRate" sourceName="W" unit="count/min" startDate="2024-01-01 08:${String(minute).padStart(2, '0')}:00 +0000" endDate="2024-01-01 08:${String(minute).padStart(2, '0')}:00 +0000" value="${bad ? 'n/a' : v}"/>`;
  /** A piece as the connector makes it: the root's start tag, whole records from a file line, the root's end tag. */
  const piece = (records: string[]) =>
    Readable.from([Buffer.from(`<HealthData locale="en_US">${records.join('\n')}\n</HealthData>`)]);

  it('locates records by the file’s lines and gives a window cut by a piece boundary an id per piece', async () => {
    const first = await mapAppleHealthStream(piece([0, 1, 2].map((m) => sample(m, 60 + m))), {
      ...ctx,
      firstLine: 84,
      firstRecord: 1,
    });
    const second = await mapAppleHealthStream(piece([sample(3, 63), sample(4, 0, true), sample(5, 65)]), {
      ...ctx,
      firstLine: 87,
      firstRecord: 4,
    });
    for (const r of [first, second]) expectReconciled(r);
    // One hour's window in two pieces: two Observations, each with its own samples and id.
    const [a] = byType(first, 'Observation');
    const [b] = byType(second, 'Observation');
    expect(a.effectivePeriod).toEqual(b.effectivePeriod);
    expect(a.id).not.toBe(b.id);
    expect([first.recordsMapped, second.recordsMapped, second.recordsRejected]).toEqual([3, 2, 1]);
    // The rejected sample is on line 88 of the file, the second line of its piece.
    expect(second.issues.map((i) => i.location?.[0])).toEqual(['export.xml:line 88 Record:value']);
  });
});
