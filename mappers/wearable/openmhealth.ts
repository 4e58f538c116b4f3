/**
 * Open mHealth / IEEE 1752.1 data points -> Observation. A file holds one data point (header + body), a bare body, an
 * array of them, or NDJSON; each is one record. The schema comes from header.schema_id.name, else from the body's
 * measure property (the OMH test data are bare bodies).
 */
import { stableId } from '../ids';
import { expandArray, readJsonDocuments } from '../json-input';
import { RecordError, RecordSink } from '../sink';
import type { FhirResource, MapContext, MapResult } from '../types';
import { HEALTHKIT_SYSTEM, measure, pointObservation, subjectOf, tables } from './observation';

type Json = Record<string, unknown>;

/** OMH schema -> [body property holding the value, measure name]. */
const SCHEMAS: Record<string, [string, string]> = {
  'heart-rate': ['heart_rate', 'heart-rate'],
  'step-count': ['step_count', 'step-count'],
  'oxygen-saturation': ['oxygen_saturation', 'oxygen-saturation'],
  'sleep-duration': ['sleep_duration', 'sleep-duration'],
  'total-sleep-time': ['total_sleep_time', 'sleep-duration'],
  'sleep-episode': ['total_sleep_time', 'sleep-duration'],
  'body-temperature': ['body_temperature', 'body-temperature'],
  'body-weight': ['body_weight', 'body-weight'],
  'body-height': ['body_height', 'body-height'],
  'body-mass-index': ['body_mass_index', 'body-mass-index'],
  'respiratory-rate': ['respiratory_rate', 'respiratory-rate'],
  'blood-glucose': ['blood_glucose', 'blood-glucose'],
  'calories-burned': ['kcal_burned', 'active-energy-burned'],
  'systolic-blood-pressure': ['systolic_blood_pressure', 'systolic-blood-pressure'],
  'diastolic-blood-pressure': ['diastolic_blood_pressure', 'diastolic-blood-pressure'],
};
const OMH_SYSTEM = 'https://w3id.org/openmhealth/schemas/omh';
const STATISTIC_EXTENSION = 'urn:tributary:fhir:StructureDefinition:descriptive-statistic';

function inferSchema(body: Json): string | undefined {
  if ('systolic_blood_pressure' in body && 'diastolic_blood_pressure' in body) return 'blood-pressure';
  if ('quantity_type' in body) return 'hk-quantity-sample';
  if ('category_type' in body) return 'hk-category-sample';
  if ('latency_to_sleep_onset' in body || 'is_main_sleep' in body) return 'sleep-episode';
  for (const [schema, [prop]] of Object.entries(SCHEMAS)) if (prop in body) return schema;
  return undefined;
}

function isObject(v: unknown): v is Json {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

function unitValue(body: Json, prop: string): { value: number; unit: string } {
  const uv = body[prop];
  if (typeof uv === 'number') return { value: uv, unit: '' };
  if (!isObject(uv)) throw new RecordError('measure is missing or not a unit-value object', prop, 'required');
  if (typeof uv.value !== 'number' || !Number.isFinite(uv.value))
    throw new RecordError('value is missing or not a number', `${prop}.value`, 'value');
  if (uv.unit !== undefined && typeof uv.unit !== 'string')
    throw new RecordError('unit is not a string', `${prop}.unit`, 'value');
  return { value: uv.value, unit: (uv.unit as string | undefined) ?? '' };
}

const DURATION_MS: Record<string, number> = {
  ms: 1,
  sec: 1000,
  s: 1000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  wk: 604_800_000,
};
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

function dateTime(v: unknown, path: string): string {
  if (typeof v !== 'string' || !ISO_DATE_TIME.test(v))
    throw new RecordError('not an RFC 3339 date-time with offset', path, 'value');
  return v.length === 16 || /T\d{2}:\d{2}(Z|[+-])/.test(v)
    ? v.replace(/T(\d{2}:\d{2})(Z|[+-])/, 'T$1:00$2')
    : v;
}

/** effective_time_frame -> [start, end?] as FHIR dateTimes; [undefined] when the schema version leaves it out. */
function timeFrame(body: Json): [string | undefined, string | undefined] {
  const tf = body.effective_time_frame;
  if (tf === undefined) return [undefined, undefined];
  if (!isObject(tf))
    throw new RecordError('effective_time_frame is not an object', 'effective_time_frame', 'structure');
  if (tf.date_time !== undefined)
    return [dateTime(tf.date_time, 'effective_time_frame.date_time'), undefined];
  const ti = tf.time_interval;
  if (!isObject(ti))
    throw new RecordError(
      'effective_time_frame has neither date_time nor time_interval',
      'effective_time_frame',
      'required',
    );
  const p = 'effective_time_frame.time_interval';
  if (ti.date !== undefined) {
    if (typeof ti.date !== 'string' || !ISO_DATE.test(ti.date))
      throw new RecordError('date is not YYYY-MM-DD', `${p}.date`, 'value');
    return [ti.date, undefined];
  }
  const durationMs = (): number => {
    const d = ti.duration;
    if (!isObject(d) || typeof d.value !== 'number' || typeof d.unit !== 'string' || !DURATION_MS[d.unit])
      throw new RecordError('duration is missing or has an unknown unit', `${p}.duration`, 'value');
    return d.value * DURATION_MS[d.unit];
  };
  if (ti.start_date_time !== undefined) {
    const start = dateTime(ti.start_date_time, `${p}.start_date_time`);
    const end =
      ti.end_date_time !== undefined
        ? dateTime(ti.end_date_time, `${p}.end_date_time`)
        : new Date(Date.parse(start) + durationMs()).toISOString();
    if (Date.parse(end) < Date.parse(start))
      throw new RecordError('interval ends before it starts', p, 'value');
    return [start, end];
  }
  if (ti.end_date_time !== undefined) {
    const end = dateTime(ti.end_date_time, `${p}.end_date_time`);
    return [new Date(Date.parse(end) - durationMs()).toISOString(), end];
  }
  throw new RecordError('time_interval has no start or end', p, 'required');
}

export function mapOpenMHealth(bytes: Buffer, ctx: MapContext): MapResult {
  const sink = new RecordSink(ctx);
  const subject = subjectOf(ctx, sink, 'file');
  for (const doc of readJsonDocuments(bytes, sink).flatMap(expandArray)) {
    sink.record(doc.location, () => [mapDataPoint(doc.value, doc.location, ctx, subject)]);
  }
  return sink.result;
}

function mapDataPoint(
  value: unknown,
  location: string,
  ctx: MapContext,
  subject: Json | undefined,
): FhirResource {
  if (!isObject(value)) throw new RecordError('data point is not a JSON object', '$', 'structure');
  const header = isObject(value.header) ? value.header : undefined;
  const body = header ? value.body : value;
  if (!isObject(body)) throw new RecordError('body is missing or not an object', 'body', 'required');
  const schemaId = header && isObject(header.schema_id) ? header.schema_id : undefined;
  const schema = (typeof schemaId?.name === 'string' ? schemaId.name : undefined) ?? inferSchema(body);
  if (!schema)
    throw new RecordError(
      'schema not recognised (no header.schema_id and no known measure property)',
      header ? 'header.schema_id' : '$',
      'not-supported',
    );
  const prefix = header ? 'body.' : '';
  try {
    const [start, end] = timeFrame(body);
    const idBase = typeof header?.id === 'string' ? header.id : `${ctx.sourceFile}|${location}`;
    const id = stableId(ctx.institution, 'omh', idBase);
    const sourceCoding = { system: OMH_SYSTEM, code: schema };
    const statistic = typeof body.descriptive_statistic === 'string' ? body.descriptive_statistic : undefined;
    let obs: FhirResource;
    if (schema === 'blood-pressure') {
      const components = (['systolic-blood-pressure', 'diastolic-blood-pressure'] as const).map((name) => {
        const uv = unitValue(body, SCHEMAS[name][0]);
        const m = measure(name);
        return {
          code: { coding: [{ system: 'http://loinc.org', code: m.loinc, display: m.display }] },
          valueQuantity: {
            value: uv.value,
            unit: uv.unit || 'mmHg',
            system: 'http://unitsofmeasure.org',
            code: 'mm[Hg]',
          },
        };
      });
      obs = pointObservation({
        id,
        measureName: 'blood-pressure',
        sourceCoding,
        start,
        end,
        subject,
        components,
      });
    } else if (schema === 'hk-quantity-sample') {
      const type = String(body.quantity_type ?? '');
      if (!/^HKQuantityTypeIdentifier\w+$/.test(type))
        throw new RecordError('quantity_type is not a HealthKit quantity type', 'quantity_type', 'value');
      const measureName = tables.apple[type];
      const uv =
        body.count !== undefined
          ? { value: Number(body.count), unit: '{count}' }
          : unitValue(body, 'unit_value');
      if (!Number.isFinite(uv.value)) throw new RecordError('count is not a number', 'count', 'value');
      obs = pointObservation({
        id,
        measureName,
        sourceCoding: { system: HEALTHKIT_SYSTEM, code: type },
        value: uv.value,
        unit: uv.unit,
        start,
        end,
        subject,
      });
    } else if (schema === 'hk-category-sample') {
      const type = String(body.category_type ?? '');
      const value = body.category_value;
      if (!/^HKCategoryTypeIdentifier\w+$/.test(type))
        throw new RecordError('category_type is not a HealthKit category type', 'category_type', 'value');
      if (typeof value !== 'string' || !value)
        throw new RecordError('category_value is missing', 'category_value', 'required');
      obs = pointObservation({
        id,
        sourceCoding: { system: HEALTHKIT_SYSTEM, code: type },
        valueCodeableConcept: { coding: [{ system: HEALTHKIT_SYSTEM, code: value }] },
        start,
        end,
        subject,
      });
    } else {
      const known = SCHEMAS[schema];
      if (!known)
        throw new RecordError(
          `OMH schema ${schema.slice(0, 60)} is not mapped`,
          header ? 'header.schema_id.name' : '$',
          'not-supported',
        );
      const uv = unitValue(body, known[0]);
      obs = pointObservation({
        id,
        measureName: known[1],
        sourceCoding,
        value: uv.value,
        unit: uv.unit || undefined,
        start,
        end,
        subject,
      });
    }
    if (statistic) obs.extension = [{ url: STATISTIC_EXTENSION, valueCode: statistic.replace(/\s+/g, '-') }];
    return obs;
  } catch (e) {
    if (e instanceof RecordError && prefix && e.location && !e.location.startsWith('header'))
      throw new RecordError(e.message, `${prefix}${e.location}`, e.code);
    throw e;
  }
}
