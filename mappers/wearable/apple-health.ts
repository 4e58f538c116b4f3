/**
 * Apple Health export.xml -> Observation (+ Device), stream-scanned (xml-scan.ts) in constant memory: the export
 * reaches gigabytes. One top-level Record / Workout / ActivitySummary / BloodPressure Correlation is one record. Heart-rate
 * samples are windowed (summary or SampledData). Food correlations repeat top-level Records (the export's own DTD says
 * so) and are counted in an information issue, not mapped twice.
 */
import type { Readable } from 'node:stream';
import { toError } from '../../platform/errors';
import { stableId } from '../ids';
import { RecordError, RecordSink } from '../sink';
import type { BatchHandler, FhirResource, MapContext, MapResult } from '../types';
import type { SampleColumns } from './observation';
import {
  HEALTHKIT_SYSTEM,
  device,
  measure,
  pointObservation,
  subjectOf,
  tables,
  windowObservation,
} from './observation';
import { FlatXmlScanner, XmlScanError } from './xml-scan';

type Attrs = Record<string, string>;
type Json = Record<string, unknown>;

const APPLE_DATE = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) ([+-])(\d{2})(\d{2})$/;
const DEVICE_FIELD = /(name|manufacturer|model|hardware|software):([^,>]*)/g;
const BATCH = 2000;
const MAX_OPEN_WINDOWS = 512;

/** "2016-06-29 21:21:12 +0100" -> "2016-06-29T21:21:12+01:00". */
export function appleDate(raw: string | undefined, location: string): string {
  const m = raw ? APPLE_DATE.exec(raw) : null;
  if (!m) throw new RecordError('date is not "YYYY-MM-DD HH:MM:SS +ZZZZ"', location, 'value');
  return `${m[1]}T${m[2]}${m[3]}${m[4]}:${m[5]}`;
}

function digitsAt(s: string, i: number, n: number): number {
  let v = 0;
  for (let k = i; k < i + n; k++) {
    const c = s.charCodeAt(k) - 0x30;
    if (!(c >= 0 && c <= 9)) return -1;
    v = v * 10 + c;
  }
  return v;
}

/**
 * Date.parse(appleDate(raw)) without the regex, the string and the generic parser, for heart-rate samples (millions
 * per export). Anything not plainly in range (days past 28, leap seconds, malformed) takes the original path, so
 * results and errors are the same.
 */
export function appleMillis(raw: string | undefined, location: string): number {
  if (
    raw !== undefined &&
    raw.length === 25 &&
    raw.charCodeAt(4) === 0x2d &&
    raw.charCodeAt(7) === 0x2d &&
    raw.charCodeAt(10) === 0x20 &&
    raw.charCodeAt(13) === 0x3a &&
    raw.charCodeAt(16) === 0x3a &&
    raw.charCodeAt(19) === 0x20
  ) {
    const y = digitsAt(raw, 0, 4);
    const mo = digitsAt(raw, 5, 2);
    const d = digitsAt(raw, 8, 2);
    const h = digitsAt(raw, 11, 2);
    const mi = digitsAt(raw, 14, 2);
    const sec = digitsAt(raw, 17, 2);
    const sign = raw.charCodeAt(20);
    const oh = digitsAt(raw, 21, 2);
    const om = digitsAt(raw, 23, 2);
    if (
      y >= 1000 &&
      mo >= 1 &&
      mo <= 12 &&
      d >= 1 &&
      d <= 28 &&
      h >= 0 &&
      h <= 23 &&
      mi >= 0 &&
      mi <= 59 &&
      sec >= 0 &&
      sec <= 59 &&
      (sign === 0x2b || sign === 0x2d) &&
      oh >= 0 &&
      oh <= 23 &&
      om >= 0 &&
      om <= 59
    ) {
      const offset = (oh * 60 + om) * 60_000 * (sign === 0x2b ? 1 : -1);
      return Date.UTC(y, mo - 1, d, h, mi, sec) - offset;
    }
  }
  return Date.parse(appleDate(raw, location));
}

interface Window {
  key: string;
  start: number;
  /** Sample times and values as plain-number columns (unboxed), not one object per sample. */
  samples: SampleColumns;
  /** Lines of the first and last sample: all the record location names. */
  firstLine: number;
  lastLine: number;
  deviceRef?: string;
  devices: FhirResource[];
}

class AppleHealthMapper {
  readonly sink: RecordSink;
  private readonly subject: Json | undefined;
  private readonly windowMs: number;
  private readonly seenDevices = new Set<string>();
  private readonly windows = new Map<string, Window>();
  private windowSeq = 0;
  private depth = 0;
  private correlation: { attrs: Attrs; line: number; records: Attrs[] } | undefined;
  private foodCorrelations = 0;
  fatal = false;

  constructor(private readonly ctx: MapContext) {
    this.sink = new RecordSink(ctx);
    this.subject = subjectOf(ctx, this.sink, 'export');
    this.windowMs = (ctx.windowSeconds ?? 3600) * 1000;
  }

  open(name: string, attrs: Attrs, line: number): void {
    this.depth++;
    if (this.depth === 2) {
      if (name === 'Record') this.onRecord(attrs, line);
      else if (name === 'Workout') this.sink.record(`line ${line} Workout`, () => this.workout(attrs, line));
      else if (name === 'ActivitySummary')
        this.sink.record(`line ${line} ActivitySummary`, () => this.activitySummary(attrs, line));
      else if (name === 'Correlation') this.correlation = { attrs, line, records: [] };
      else if (name !== 'ExportDate' && name !== 'Me')
        this.sink.reject(
          `line ${line} ${name}`,
          'element not mapped (unknown Apple Health export element)',
          'not-supported',
        );
    } else if (this.depth === 3 && name === 'Record' && this.correlation)
      this.correlation.records.push(attrs);
  }

  close(name: string): void {
    if (this.depth === 2 && name === 'Correlation' && this.correlation) {
      const c = this.correlation;
      this.correlation = undefined;
      if (c.attrs.type === 'HKCorrelationTypeIdentifierBloodPressure')
        this.sink.record(`line ${c.line} Correlation`, () => this.bloodPressure(c.attrs, c.records, c.line));
      else this.foodCorrelations++;
    }
    this.depth--;
  }

  /** sourceName|device attribute -> Device (the attribute repeats verbatim on every record of a device: parse once). */
  private readonly deviceCache = new Map<string, FhirResource>();

  /** The last device seen: consecutive records almost always share it, so most lookups are two string compares. */
  private lastDevice: { raw: string; sourceName: string | undefined; ref: string } | undefined;

  private deviceFor(a: Attrs, out: FhirResource[]): string | undefined {
    const raw = a.device;
    if (!raw) return undefined;
    const last = this.lastDevice;
    if (last && last.raw === raw && last.sourceName === a.sourceName) return last.ref;
    const ref = this.deviceRefFor(a, raw, out);
    this.lastDevice = { raw, sourceName: a.sourceName, ref };
    return ref;
  }

  private deviceRefFor(a: Attrs, raw: string, out: FhirResource[]): string {
    const cacheKey = `${a.sourceName ?? ''}|${raw}`;
    let d = this.deviceCache.get(cacheKey);
    if (!d) {
      const fields: Record<string, string> = {};
      for (const m of raw.matchAll(DEVICE_FIELD)) fields[m[1]] = m[2].trim();
      // The source name often carries the owner's name ("Jonathan's iPhone"): it is hashed into the id, never copied.
      const key = `${a.sourceName ?? ''}|${fields.name ?? ''}|${fields.model ?? ''}|${fields.hardware ?? ''}|${fields.software ?? ''}`;
      d = device(this.ctx, key, {
        name: fields.name,
        manufacturer: fields.manufacturer,
        model: fields.hardware || fields.model,
        version: fields.software,
      });
      if (this.deviceCache.size > 10_000) this.deviceCache.clear();
      this.deviceCache.set(cacheKey, d);
      if (!this.seenDevices.has(d.id as string)) {
        this.seenDevices.add(d.id as string);
        out.push(d);
      }
    }
    return `Device/${d.id}`;
  }

  private onRecord(a: Attrs, line: number): void {
    const type = a.type ?? '';
    const measureName = tables.apple[type];
    if (measureName && measure(measureName).highFrequency) {
      this.addSample(a, line, measureName);
      return;
    }
    this.sink.record(`line ${line} Record`, () => {
      const out: FhirResource[] = [];
      const deviceRef = this.deviceFor(a, out);
      if (!type) throw new RecordError('Record has no type', 'type', 'required');
      const start = appleDate(a.startDate, 'startDate');
      const end = appleDate(a.endDate, 'endDate');
      const id = stableId(
        this.ctx.institution,
        'apple',
        type,
        a.startDate ?? '',
        a.endDate ?? '',
        a.sourceName ?? '',
        a.value ?? '',
      );
      const hk = { system: HEALTHKIT_SYSTEM, code: type, display: hkDisplay(type) };
      if (type.startsWith('HKCategoryTypeIdentifier')) {
        const value = a.value ?? '';
        const durationH = (Date.parse(end) - Date.parse(start)) / 3_600_000;
        const sleepMeasure =
          type === 'HKCategoryTypeIdentifierSleepAnalysis' ? tables.appleSleep[value] : undefined;
        if (sleepMeasure) {
          out.push(
            pointObservation({
              id,
              measureName: sleepMeasure,
              sourceCoding: { system: HEALTHKIT_SYSTEM, code: value },
              value: round(durationH),
              start,
              end,
              subject: this.subject,
              deviceRef,
            }),
          );
        } else {
          out.push(
            pointObservation({
              id,
              sourceCoding: hk,
              start,
              end,
              subject: this.subject,
              deviceRef,
              valueCodeableConcept: value
                ? { coding: [{ system: HEALTHKIT_SYSTEM, code: value }] }
                : undefined,
              components: [
                {
                  code: { text: 'duration' },
                  valueQuantity: {
                    value: round(durationH),
                    unit: 'h',
                    system: 'http://unitsofmeasure.org',
                    code: 'h',
                  },
                },
              ],
            }),
          );
        }
        return out;
      }
      const value = numberOf(a.value);
      if (!Number.isFinite(value))
        throw new RecordError('Record value is missing or not a number', 'value', 'value');
      if (measureName) {
        const scaled =
          measureName === 'oxygen-saturation' && a.unit === '%' && value <= 1 ? round(value * 100) : value;
        const unit = measureName === 'oxygen-saturation' ? '%' : a.unit;
        out.push(
          pointObservation({
            id,
            measureName,
            sourceCoding: hk,
            value: scaled,
            unit: normalizeAppleUnit(unit, measureName),
            start,
            end,
            subject: this.subject,
            deviceRef,
          }),
        );
      } else {
        out.push(
          pointObservation({
            id,
            sourceCoding: hk,
            value,
            unit: a.unit,
            start,
            end,
            subject: this.subject,
            deviceRef,
          }),
        );
      }
      return out;
    });
  }

  /** Heart-rate samples accumulate into windows; the records are counted when their window is emitted. */
  private addSample(a: Attrs, line: number, measureName: string): void {
    let t: number;
    let v: number;
    try {
      t = appleMillis(a.startDate, 'startDate');
      v = numberOf(a.value);
      if (!Number.isFinite(v))
        throw new RecordError('Record value is missing or not a number', 'value', 'value');
    } catch (e) {
      const err = e instanceof RecordError ? e : new RecordError(toError(e).message, 'Record');
      this.sink.reject(`line ${line} Record:${err.location}`, err.message, err.code);
      return;
    }
    const devices: FhirResource[] = [];
    const deviceRef = this.deviceFor(a, devices);
    const start = Math.floor(t / this.windowMs) * this.windowMs;
    const key = `${measureName}|${deviceRef ?? ''}|${start}`;
    let w = this.windows.get(key);
    if (!w) {
      if (this.windows.size >= MAX_OPEN_WINDOWS) this.flushOldestWindow();
      w = { key, start, samples: { t: [], v: [] }, firstLine: line, lastLine: line, deviceRef, devices: [] };
      this.windows.set(key, w);
    }
    w.devices.push(...devices);
    w.samples.t.push(t);
    w.samples.v.push(v);
    w.lastLine = line;
  }

  private flushOldestWindow(): void {
    const first = this.windows.values().next().value;
    if (first) this.emitWindow(first);
  }

  private emitWindow(w: Window): void {
    this.windows.delete(w.key);
    const measureName = w.key.slice(0, w.key.indexOf('|'));
    const seq = this.windowSeq++;
    const count = w.samples.v.length;
    const location = `lines ${w.firstLine}-${w.lastLine} Record (${count} samples)`;
    this.sink.record(
      location,
      () => [
        ...w.devices,
        windowObservation({
          // A piece of a larger export (firstRecord) numbers its windows apart from the other pieces': a window cut
          // by a piece boundary becomes two Observations, never one id for two windows.
          id: stableId(
            this.ctx.institution,
            'apple-window',
            this.ctx.sourceFile,
            w.key,
            this.ctx.firstRecord === undefined ? seq : `${this.ctx.firstRecord}.${seq}`,
          ),
          measureName,
          windowStart: w.start,
          windowMs: this.windowMs,
          samples: w.samples,
          sampledData: this.ctx.sampledData === true,
          subject: this.subject,
          deviceRef: w.deviceRef,
        }),
      ],
      count,
    );
  }

  private workout(a: Attrs, line: number): FhirResource[] {
    const out: FhirResource[] = [];
    const deviceRef = this.deviceFor(a, out);
    const type = a.workoutActivityType;
    if (!type) throw new RecordError('Workout has no workoutActivityType', 'workoutActivityType', 'required');
    const start = appleDate(a.startDate, 'startDate');
    const end = appleDate(a.endDate, 'endDate');
    const duration = Number(a.duration);
    const components: Json[] = [];
    const addComponent = (code: string, value: string | undefined, unit: string | undefined): void => {
      const n = Number(value);
      if (value !== undefined && Number.isFinite(n))
        components.push({
          code: { coding: [{ system: HEALTHKIT_SYSTEM, code }] },
          valueQuantity: quantityOf(n, unit),
        });
    };
    addComponent('totalDistance', a.totalDistance, a.totalDistanceUnit);
    addComponent('totalEnergyBurned', a.totalEnergyBurned, a.totalEnergyBurnedUnit);
    out.push(
      pointObservation({
        id: stableId(
          this.ctx.institution,
          'apple-workout',
          type,
          a.startDate ?? '',
          a.endDate ?? '',
          a.sourceName ?? '',
        ),
        sourceCoding: {
          system: HEALTHKIT_SYSTEM,
          code: type,
          display: type.replace(/^HKWorkoutActivityType/, ''),
        },
        value: Number.isFinite(duration) ? duration : undefined,
        unit: a.durationUnit,
        start,
        end,
        subject: this.subject,
        deviceRef,
        components,
      }),
    );
    void line;
    return out;
  }

  private activitySummary(a: Attrs, line: number): FhirResource[] {
    const date = a.dateComponents;
    if (!date || !/^\d{4}-\d{2}-\d{2}$/.test(date))
      throw new RecordError('ActivitySummary dateComponents is not YYYY-MM-DD', 'dateComponents', 'value');
    const components: Json[] = [];
    const add = (code: string, value: string | undefined, unit: string | undefined): void => {
      const n = Number(value);
      if (value !== undefined && value !== '' && Number.isFinite(n))
        components.push({
          code: { coding: [{ system: HEALTHKIT_SYSTEM, code }] },
          valueQuantity: quantityOf(n, unit),
        });
    };
    add('activeEnergyBurned', a.activeEnergyBurned, a.activeEnergyBurnedUnit ?? 'kcal');
    add('activeEnergyBurnedGoal', a.activeEnergyBurnedGoal, a.activeEnergyBurnedUnit ?? 'kcal');
    add('appleExerciseTime', a.appleExerciseTime, 'min');
    add('appleExerciseTimeGoal', a.appleExerciseTimeGoal, 'min');
    add('appleStandHours', a.appleStandHours, 'h');
    add('appleStandHoursGoal', a.appleStandHoursGoal, 'h');
    void line;
    return [
      pointObservation({
        id: stableId(this.ctx.institution, 'apple-activity-summary', this.ctx.sourceFile, date),
        sourceCoding: { system: HEALTHKIT_SYSTEM, code: 'ActivitySummary', display: 'Activity summary' },
        start: date,
        subject: this.subject,
        components,
      }),
    ];
  }

  private bloodPressure(a: Attrs, records: Attrs[], line: number): FhirResource[] {
    const out: FhirResource[] = [];
    const deviceRef = this.deviceFor(a, out);
    const start = appleDate(a.startDate, 'startDate');
    const end = appleDate(a.endDate, 'endDate');
    const components: Json[] = [];
    for (const r of records) {
      const name = tables.apple[r.type ?? ''];
      if (name !== 'systolic-blood-pressure' && name !== 'diastolic-blood-pressure') continue;
      const v = Number(r.value);
      if (!Number.isFinite(v))
        throw new RecordError('blood pressure Record value is not a number', 'Record/value', 'value');
      const m = measure(name);
      components.push({
        code: { coding: [{ system: 'http://loinc.org', code: m.loinc, display: m.display }] },
        valueQuantity: { value: v, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' },
      });
    }
    if (components.length === 0)
      throw new RecordError(
        'blood pressure correlation has no systolic or diastolic Record',
        'Correlation',
        'required',
      );
    out.push(
      pointObservation({
        id: stableId(
          this.ctx.institution,
          'apple-bp',
          a.startDate ?? '',
          a.endDate ?? '',
          a.sourceName ?? '',
        ),
        measureName: 'blood-pressure',
        start,
        end,
        subject: this.subject,
        deviceRef,
        components,
      }),
    );
    void line;
    return out;
  }

  finish(): void {
    for (const w of [...this.windows.values()]) this.emitWindow(w);
    if (this.foodCorrelations)
      this.sink.issue(
        'information',
        'processing',
        'file',
        `${this.foodCorrelations} Food correlation(s) not mapped separately: their Records are mapped at top level`,
      );
  }
}

const hkDisplays = new Map<string, string>();

/** "HKQuantityTypeIdentifierStepCount" -> "StepCount" (a handful of types, millions of records: computed once each). */
function hkDisplay(type: string): string {
  let d = hkDisplays.get(type);
  if (d === undefined) {
    d = type.replace(/^HK\w+?TypeIdentifier/, '');
    if (hkDisplays.size < 10_000) hkDisplays.set(type, d);
  }
  return d;
}

/** Number of an attribute; NaN for missing or blank (Number('') is 0, which would invent a measurement). */
function numberOf(raw: string | undefined): number {
  return raw === undefined || raw.trim() === '' ? NaN : Number(raw);
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

function normalizeAppleUnit(unit: string | undefined, measureName: string): string | undefined {
  if (measureName === 'step-count') return '{steps}';
  if (unit === 'count/min') return '/min';
  if (unit === 'degC') return 'Cel';
  return unit;
}

function quantityOf(value: number, unit: string | undefined): Json {
  const q: Json = { value };
  if (unit) {
    q.unit = unit;
    const ucum: Record<string, string> = {
      km: 'km',
      m: 'm',
      mi: '[mi_i]',
      kcal: 'kcal',
      kJ: 'kJ',
      min: 'min',
      h: 'h',
      s: 's',
      Cal: 'kcal',
    };
    if (ucum[unit]) {
      q.system = 'http://unitsofmeasure.org';
      q.code = ucum[unit];
    }
  }
  return q;
}

/**
 * Stream an export. Batches of about BATCH resources go to onBatch between chunks, so memory stays flat. A
 * well-formedness error stops the parse (XML cannot be resynchronised): it becomes a fatal issue with line and column,
 * and what was mapped before it stands.
 */
export async function mapAppleHealthStream(
  input: Readable | AsyncIterable<Buffer>,
  ctx: MapContext,
  onBatch?: BatchHandler,
): Promise<MapResult> {
  const mapper = new AppleHealthMapper(ctx);
  // A piece of a larger export is its root element's start tag on line 1, then the file's bytes from `firstLine` on.
  const shift = (ctx.firstLine ?? 1) - 1;
  // Entity declarations in the internal DTD are never expanded (a reference to one is an error): no entity bombs.
  const scanner = new FlatXmlScanner({
    open: (name, attrs, line) => mapper.open(name, attrs, line + shift),
    close: (name) => mapper.close(name),
  });
  let parseError: { message: string; line: number; column: number; offset: number } | undefined;
  const totals = { recordsIn: 0, recordsMapped: 0, recordsRejected: 0 };
  const deliver = async (final: boolean): Promise<void> => {
    if (!onBatch) return;
    const r = mapper.sink.result;
    if (!final && r.resources.length < BATCH) return;
    const batch = mapper.sink.drain();
    totals.recordsIn += batch.recordsIn;
    totals.recordsMapped += batch.recordsMapped;
    totals.recordsRejected += batch.recordsRejected;
    await onBatch(batch);
  };
  try {
    for await (const chunk of input) {
      scanner.write(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
      await deliver(false);
    }
    scanner.end();
  } catch (e) {
    if (e instanceof XmlScanError)
      parseError = { message: e.message, line: e.line, column: e.column, offset: e.offset };
    else parseError = { message: toError(e).name, ...scanner.position };
  }
  if (parseError) {
    // In a piece, the offset would count from the piece's start: the line is the file's.
    const at = ctx.firstLine === undefined ? ` at byte offset ${parseError.offset}` : '';
    mapper.sink.issue(
      'fatal',
      'structure',
      `line ${parseError.line + shift} column ${parseError.column}`,
      `XML is not well-formed (${parseError.message})${at}; parsing stopped, records after this point are not read`,
    );
  }
  mapper.finish();
  await deliver(true);
  if (!onBatch) return mapper.sink.result;
  return { resources: [], issues: [], ...totals };
}
