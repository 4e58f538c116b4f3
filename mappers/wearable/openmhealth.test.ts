import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DATA_DIR, expectReconciled, sample, sampleFiles } from '../test-support/data';
import type { MapContext } from '../types';
import { mapOpenMHealth } from './openmhealth';

const ctx: MapContext = { institution: 'test-inst', sourceFile: 'omh.json', subjectMrn: 'M1' };
const MAPPED =
  /omh\/(heart-rate|step-count|oxygen-saturation|sleep-duration|total-sleep-time|sleep-episode|body-temperature|body-weight|body-height|blood-pressure|respiratory-rate|blood-glucose)\//;

describe('mapOpenMHealth', () => {
  it('maps heart rate with LOINC, UCUM and the descriptive statistic', () => {
    const r = mapOpenMHealth(
      sample('openmhealth/omh/heart-rate/2.0/shouldPass/with-descriptive-statistic.json'),
      ctx,
    );
    expectReconciled(r);
    const [o] = r.resources;
    expect(o).toMatchObject({
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }, { code: 'heart-rate' }] },
      valueQuantity: { value: 50, system: 'http://unitsofmeasure.org', code: '/min' },
      effectivePeriod: { start: '2020-02-05T06:00:00+01:00', end: '2020-02-06T06:00:00+01:00' },
      extension: [{ valueCode: 'minimum' }],
    });
  });

  it('maps a blood-pressure body to the panel and a Fahrenheit temperature to [degF]', () => {
    const bp = mapOpenMHealth(
      sample('openmhealth/omh/blood-pressure/4.0/shouldPass/blood-pressure-only.json'),
      ctx,
    );
    expect(bp.resources[0]).toMatchObject({
      code: { coding: [{ code: '85354-9' }, { code: 'blood-pressure' }] },
      component: [{ valueQuantity: { value: 115, code: 'mm[Hg]' } }, { valueQuantity: { value: 60 } }],
    });
    const temp = mapOpenMHealth(
      Buffer.from(
        JSON.stringify({
          body_temperature: { value: 97, unit: 'F' },
          effective_time_frame: { date_time: '2023-02-05T07:25:00+01:00' },
        }),
      ),
      ctx,
    );
    expect(temp.resources[0].valueQuantity).toEqual({
      value: 97,
      unit: 'F',
      system: 'http://unitsofmeasure.org',
      code: '[degF]',
    });
  });

  it('maps every shouldPass sample of the mapped schemas and explains every rejection elsewhere', () => {
    const files = sampleFiles('openmhealth', '.json');
    expect(files.length).toBeGreaterThan(600);
    let passMapped = 0;
    let passTotal = 0;
    let failRejected = 0;
    let failTotal = 0;
    for (const f of files) {
      const rel = relative(`${DATA_DIR}/openmhealth`, f);
      const r = mapOpenMHealth(readFileSync(f), { ...ctx, sourceFile: rel });
      expectReconciled(r);
      if (!MAPPED.test(rel)) continue;
      if (rel.includes('shouldPass')) {
        passTotal += r.recordsIn;
        passMapped += r.recordsMapped;
      } else {
        failTotal += r.recordsIn;
        failRejected += r.recordsRejected;
      }
    }
    // A few shouldPass samples are rejected on purpose (an interval that ends before it starts).
    expect(passMapped / passTotal).toBeGreaterThan(0.9);
    // shouldFail samples break schema rules we do not all check (enums, extra properties, unit lists).
    expect(failRejected / failTotal).toBeGreaterThan(0.4);
  });

  it('rejects wrong types with JSON paths and maps the rest of an NDJSON file', () => {
    const lines = [
      JSON.stringify({
        header: { id: 'a', schema_id: { namespace: 'omh', name: 'step-count', version: '3.0' } },
        body: {
          step_count: { value: 'many', unit: 'steps' },
          effective_time_frame: { date_time: '2024-01-01T00:00:00Z' },
        },
      }),
      '{"broken": ',
      JSON.stringify({
        step_count: { value: 10, unit: 'steps' },
        effective_time_frame: { date_time: '2024-01-01T00:00:00Z' },
      }),
    ].join('\n');
    const r = mapOpenMHealth(Buffer.from(lines), ctx);
    expectReconciled(r);
    expect(r.recordsMapped).toBe(1);
    expect(r.issues.map((i) => i.location?.[0]).filter((l) => !l?.endsWith('file'))).toEqual([
      'omh.json:line 2',
      'omh.json:line 1:body.step_count.value',
    ]);
  });
});
