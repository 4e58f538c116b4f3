/**
 * Vendor-style wearable JSON (synth/FORMATS.md "vendor-wearable") -> Observation + Device. One element of samples[] is
 * one record; heart-rate samples are windowed like Apple Health. user.* and device.serial are PHI: the serial only
 * feeds the Device id hash, nothing of user.* is copied.
 */
import { stableId } from '../ids';
import { readJsonDocuments } from '../json-input';
import { RecordError, RecordSink } from '../sink';
import type { FhirResource, MapContext, MapResult } from '../types';
import type { Sample } from './observation';
import { device, measure, pointObservation, subjectOf, windowObservation } from './observation';

type Json = Record<string, unknown>;

const TYPES: Record<string, string> = {
  heart_rate: 'heart-rate',
  steps: 'step-count',
  spo2: 'oxygen-saturation',
  sleep: 'sleep-duration',
  blood_pressure: 'blood-pressure',
  body_weight: 'body-weight',
};
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function isObject(v: unknown): v is Json {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

/** ISO 8601 with offset, or epoch milliseconds (some vendors export numbers). */
function time(v: unknown, field: string): { iso: string; ms: number } {
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) return { iso: new Date(v).toISOString(), ms: v };
  if (typeof v === 'string' && ISO.test(v)) return { iso: v, ms: Date.parse(v) };
  throw new RecordError('time is neither ISO 8601 with offset nor epoch milliseconds', field, 'value');
}

function num(s: Json, field: string): number {
  const v = s[field];
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new RecordError('value is missing or not a number', field, 'value');
  return v;
}

export function mapVendorWearable(bytes: Buffer, ctx: MapContext): MapResult {
  const sink = new RecordSink(ctx);
  const subject = subjectOf(ctx, sink, 'file');
  for (const doc of readJsonDocuments(bytes, sink)) {
    const root = doc.value;
    const base = doc.location === '$' ? '$' : `${doc.location}:$`;
    if (!isObject(root) || !Array.isArray(root.samples)) {
      sink.reject(base, 'not a vendor export: samples[] is missing', 'structure');
      continue;
    }
    const dev = isObject(root.device) ? root.device : {};
    const vendor = typeof root.vendor === 'string' ? root.vendor : undefined;
    const devResource = device(
      ctx,
      `${vendor ?? ''}|${String(dev.model ?? '')}|${String(dev.serial ?? '')}`,
      {
        name: typeof dev.model === 'string' ? dev.model : undefined,
        manufacturer: vendor,
        model: typeof dev.model === 'string' ? dev.model : undefined,
        version: typeof dev.firmware === 'string' ? dev.firmware : undefined,
      },
    );
    const deviceRef = `Device/${devResource.id}`;
    let deviceEmitted = false;
    const withDevice = (resources: FhirResource[]): FhirResource[] => {
      if (deviceEmitted) return resources;
      deviceEmitted = true;
      return [devResource, ...resources];
    };
    const windowMs = (ctx.windowSeconds ?? 3600) * 1000;
    const windows = new Map<number, { samples: Sample[]; paths: string[] }>();
    (root.samples as unknown[]).forEach((s, i) => {
      const path = `${base}.samples[${i}]`;
      if (!isObject(s)) {
        sink.reject(path, 'sample is not an object', 'structure');
        return;
      }
      const kind = typeof s.type === 'string' ? TYPES[s.type] : undefined;
      if (kind && measure(kind).highFrequency) {
        try {
          const t = time(s.start, 'start');
          const v = num(s, 'value');
          const start = Math.floor(t.ms / windowMs) * windowMs;
          const w = windows.get(start) ?? { samples: [], paths: [] };
          w.samples.push({ t: t.ms, v });
          w.paths.push(path);
          windows.set(start, w);
        } catch (e) {
          const err = e as RecordError;
          sink.reject(`${path}.${err.location}`, err.message, err.code);
        }
        return;
      }
      sink.record(path, () => {
        if (!kind)
          throw new RecordError(
            'sample type is not one of heart_rate, steps, spo2, sleep, blood_pressure, body_weight',
            'type',
            'not-supported',
          );
        const start = time(s.start, 'start');
        const end = s.end === undefined ? start : time(s.end, 'end');
        if (end.ms < start.ms) throw new RecordError('sample ends before it starts', 'end', 'value');
        const id = stableId(ctx.institution, 'vendor', ctx.sourceFile, i);
        const unit = typeof s.unit === 'string' ? s.unit : undefined;
        if (kind === 'blood-pressure') {
          const components = (['systolic', 'diastolic'] as const).map((f) => {
            const m = measure(`${f}-blood-pressure`);
            return {
              code: { coding: [{ system: 'http://loinc.org', code: m.loinc, display: m.display }] },
              valueQuantity: {
                value: num(s, f),
                unit: 'mmHg',
                system: 'http://unitsofmeasure.org',
                code: 'mm[Hg]',
              },
            };
          });
          return withDevice([
            pointObservation({
              id,
              measureName: kind,
              start: start.iso,
              end: end.iso,
              subject,
              deviceRef,
              components,
            }),
          ]);
        }
        let value = num(s, 'value');
        let u = unit;
        if (kind === 'sleep-duration' && unit === 'min') {
          value = Math.round((value / 60) * 1000) / 1000;
          u = 'h';
        }
        if (kind === 'step-count') u = '{steps}';
        return withDevice([
          pointObservation({
            id,
            measureName: kind,
            value,
            unit: u,
            start: start.iso,
            end: end.iso,
            subject,
            deviceRef,
          }),
        ]);
      });
    });
    for (const [start, w] of [...windows].sort((a, b) => a[0] - b[0])) {
      sink.record(
        `${w.paths[0]}..${w.paths[w.paths.length - 1].split('.').pop()} (${w.samples.length} heart-rate samples)`,
        () =>
          withDevice([
            windowObservation({
              id: stableId(ctx.institution, 'vendor-window', ctx.sourceFile, start),
              measureName: 'heart-rate',
              windowStart: start,
              windowMs,
              samples: w.samples,
              sampledData: ctx.sampledData === true,
              subject,
              deviceRef,
            }),
          ]),
        w.samples.length,
      );
    }
  }
  return sink.result;
}
