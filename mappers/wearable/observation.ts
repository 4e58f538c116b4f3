/**
 * Building wearable Observations (LOINC + UCUM, device, effective time) shared by Apple Health, Open mHealth and the
 * vendor JSON, and the windowing of high-frequency series into summaries or SampledData.
 */
import { readFileSync } from 'node:fs';
import { UCUM, quantity } from '../tables/index';
import { patientStableId, stableId } from '../ids';
import type { RecordSink } from '../sink';
import type { FhirResource, MapContext } from '../types';

type Json = Record<string, unknown>;

export interface Measure {
  loinc: string;
  display: string;
  ucum?: string;
  unit?: string;
  category: string;
  highFrequency?: boolean;
  extraCodes?: string[];
  alternates?: Record<string, { loinc: string; display: string }>;
}

interface WearableTables {
  measures: Record<string, Measure>;
  apple: Record<string, string>;
  appleSleep: Record<string, string>;
}

export const tables = JSON.parse(
  readFileSync(new URL('../tables/wearable-codes.json', import.meta.url), 'utf8'),
) as WearableTables;
export const HEALTHKIT_SYSTEM = 'http://developer.apple.com/documentation/healthkit';
const CATEGORY_SYSTEM = 'http://terminology.hl7.org/CodeSystem/observation-category';
const STATISTICS = 'http://terminology.hl7.org/CodeSystem/observation-statistics';

export function measure(name: string): Measure {
  const m = tables.measures[name];
  if (!m) throw new Error(`wearable measure table has no entry ${name}`);
  return m;
}

/**
 * The Patient the input's Observations are about, from the subject MRN the caller gives for it. Without one, the
 * Observations are still mapped, and the input gets a warning saying they have no subject.
 */
export function subjectOf(ctx: MapContext, sink: RecordSink, input: 'file' | 'export'): Json | undefined {
  if (ctx.subjectMrn) return { reference: `Patient/${patientStableId(ctx.institution, ctx.subjectMrn)}` };
  sink.issue(
    'warning',
    'incomplete',
    'file',
    `no subject MRN given for this ${input}: Observations have no subject`,
  );
  return undefined;
}

export function measureCode(m: Measure, unit?: string, extra?: Json[]): Json {
  const alt = unit ? m.alternates?.[unit] : undefined;
  const loinc = alt ?? m;
  const coding: Json[] = [{ system: 'http://loinc.org', code: loinc.loinc, display: loinc.display }];
  for (const c of m.extraCodes ?? []) coding.push({ system: 'http://loinc.org', code: c });
  if (extra) coding.push(...extra);
  return { coding, text: loinc.display };
}

export function category(code: string): Json[] {
  return [{ coding: [{ system: CATEGORY_SYSTEM, code }] }];
}

/** A Device for a wearable source; id stable per institution + descriptive key. */
export function device(
  ctx: MapContext,
  key: string,
  fields: { name?: string; manufacturer?: string; model?: string; version?: string },
): FhirResource {
  const d: FhirResource = { resourceType: 'Device', id: stableId(ctx.institution, 'Device', key) };
  if (fields.name) d.deviceName = [{ name: fields.name, type: 'user-friendly-name' }];
  if (fields.manufacturer) d.manufacturer = fields.manufacturer;
  if (fields.model) d.modelNumber = fields.model;
  if (fields.version) d.version = [{ value: fields.version }];
  return d;
}

export interface PointObservation {
  id: string;
  measureName?: string;
  /** When the measure is not in the table: a source coding (HealthKit, OMH schema) is the code. */
  sourceCoding?: Json;
  value?: number;
  unit?: string;
  valueCodeableConcept?: Json;
  /** Omitted only when the source has no time for the measurement (some OMH schema versions). */
  start?: string;
  end?: string;
  subject?: Json;
  deviceRef?: string;
  components?: Json[];
}

export function pointObservation(p: PointObservation): FhirResource {
  const m = p.measureName ? measure(p.measureName) : undefined;
  const obs: FhirResource = {
    resourceType: 'Observation',
    id: p.id,
    status: 'final',
    ...(m ? { category: category(m.category) } : {}),
    code: m
      ? measureCode(m, p.unit, p.sourceCoding ? [p.sourceCoding] : undefined)
      : {
          coding: [p.sourceCoding],
          text: String(
            (p.sourceCoding as Json | undefined)?.display ??
              (p.sourceCoding as Json | undefined)?.code ??
              'measure',
          ),
        },
  };
  if (p.subject) obs.subject = p.subject;
  if (p.start && p.end && p.end !== p.start) obs.effectivePeriod = { start: p.start, end: p.end };
  else if (p.start) obs.effectiveDateTime = p.start;
  if (p.value !== undefined) {
    if (m?.ucum && (p.unit === undefined || p.unit === m.ucum))
      obs.valueQuantity = { value: p.value, unit: m.unit ?? m.ucum, system: UCUM, code: m.ucum };
    else obs.valueQuantity = quantity(p.value, p.unit);
  } else if (p.valueCodeableConcept) obs.valueCodeableConcept = p.valueCodeableConcept;
  if (p.components?.length) obs.component = p.components;
  if (p.deviceRef) obs.device = { reference: p.deviceRef };
  return obs;
}

export interface Sample {
  t: number;
  v: number;
}

/**
 * Samples as two columns (times, values), in arrival order. Arrays of plain numbers are stored unboxed: a sample
 * costs 16 bytes here against about 70 as a {t, v} object, which matters for hundreds of open windows.
 */
export interface SampleColumns {
  t: number[];
  v: number[];
}

/**
 * A window of a high-frequency series (heart rate) as one Observation: either a summary (average value, with
 * minimum/maximum/count components coded by observation-statistics) or SampledData in 60 s buckets.
 */
export function windowObservation(opts: {
  id: string;
  measureName: string;
  windowStart: number;
  windowMs: number;
  samples: Sample[] | SampleColumns;
  sampledData: boolean;
  subject?: Json;
  deviceRef?: string;
}): FhirResource {
  const m = measure(opts.measureName);
  const ucum = m.ucum ?? '1';
  const q = (value: number): Json => ({ value, unit: m.unit ?? ucum, system: UCUM, code: ucum });
  const obs: FhirResource = {
    resourceType: 'Observation',
    id: opts.id,
    status: 'final',
    category: category(m.category),
    code: measureCode(m),
    effectivePeriod: {
      start: new Date(opts.windowStart).toISOString(),
      end: new Date(opts.windowStart + opts.windowMs).toISOString(),
    },
  };
  if (opts.subject) obs.subject = opts.subject;
  if (opts.deviceRef) obs.device = { reference: opts.deviceRef };
  const samples = opts.samples;
  const cols = Array.isArray(samples) ? undefined : samples;
  const count = cols ? cols.v.length : (samples as Sample[]).length;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (let i = 0; i < count; i++) {
    const v = cols ? cols.v[i] : (samples as Sample[])[i].v;
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  if (opts.sampledData) {
    const bucketMs = 60_000;
    const n = Math.max(1, Math.ceil(opts.windowMs / bucketMs));
    const sums = new Float64Array(n);
    const counts = new Uint32Array(n);
    for (let i = 0; i < count; i++) {
      const t = cols ? cols.t[i] : (samples as Sample[])[i].t;
      const b = Math.min(n - 1, Math.floor((t - opts.windowStart) / bucketMs));
      sums[b] += cols ? cols.v[i] : (samples as Sample[])[i].v;
      counts[b]++;
    }
    const data: string[] = [];
    for (let i = 0; i < n; i++)
      data.push(counts[i] ? String(Math.round((sums[i] / counts[i]) * 100) / 100) : 'E');
    obs.valueSampledData = { origin: q(0), period: bucketMs, dimensions: 1, data: data.join(' ') };
  } else {
    obs.valueQuantity = q(Math.round((sum / count) * 100) / 100);
    obs.component = [
      { code: { coding: [{ system: STATISTICS, code: 'minimum' }] }, valueQuantity: q(min) },
      { code: { coding: [{ system: STATISTICS, code: 'maximum' }] }, valueQuantity: q(max) },
      { code: { coding: [{ system: STATISTICS, code: 'count' }] }, valueInteger: count },
    ];
  }
  return obs;
}
