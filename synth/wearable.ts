/** Wearable exports: Open mHealth data points, Apple Health export.xml, or a vendor-style JSON, per patient. */
import type { Registration, World } from './model';
import type { Sink } from './sink';
import { at } from './sink';
import { Rng } from './prng';
import { isoLocal, offsetText, formatPattern, ANCHOR_DAY, MS_DAY } from './dates';

interface Sample {
  kind: 'heart_rate' | 'steps' | 'spo2' | 'sleep' | 'blood_pressure' | 'body_weight';
  start: number;
  end: number;
  value: number;
  value2?: number;
}

function samplesFor(rng: Rng, n: number): Sample[] {
  const out: Sample[] = [];
  const base = ANCHOR_DAY - 14 * MS_DAY;
  for (let i = 0; i < n; i++) {
    const start = base + rng.int(0, 13) * MS_DAY + rng.int(0, 86_399) * 1000;
    const kind = rng.pick([
      'heart_rate',
      'heart_rate',
      'steps',
      'spo2',
      'sleep',
      'blood_pressure',
      'body_weight',
    ] as const);
    switch (kind) {
      case 'heart_rate':
        out.push({ kind, start, end: start, value: rng.int(52, 128) });
        break;
      case 'steps':
        out.push({ kind, start, end: start + 3_600_000, value: rng.int(0, 4000) });
        break;
      case 'spo2':
        out.push({ kind, start, end: start, value: rng.int(89, 100) });
        break;
      case 'sleep':
        out.push({ kind, start, end: start + rng.int(240, 540) * 60_000, value: 0 });
        out[out.length - 1].value = Math.round((out[out.length - 1].end - start) / 60_000);
        break;
      case 'blood_pressure':
        out.push({ kind, start, end: start, value: rng.int(100, 175), value2: rng.int(60, 105) });
        break;
      default:
        out.push({ kind, start, end: start, value: rng.float(45, 110, 1) });
    }
  }
  return out.sort((a, b) => a.start - b.start);
}

const xmlEscape = (s: string) =>
  s.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] as string,
  );

export function writeWearable(world: World, instId: string, regs: Registration[], sink: Sink): void {
  const inst = regs[0]?.institution;
  if (!inst) return;
  const off = world.offsets.get(instId) as number;
  const format = inst.wearable.format;
  let records = 0;
  let malformed = 0;
  const files: Record<string, number> = {};
  for (const reg of regs) {
    if (!reg.wearable) continue;
    const rng = new Rng(world.seed, `wearable:${instId}:${reg.ordinal}`);
    const samples = samplesFor(rng, rng.int(8, 30));
    const p = reg.person;
    const displayName = p.locale === 'zh-CN' ? p.family + p.given : `${p.given} ${p.family}`;
    if (format === 'openmhealth') {
      const file = `${instId}/wearable/openmhealth/${reg.key}.json`;
      const points: unknown[] = [];
      // The header values repeat in every data point of the file: listed once, for all points (`[*]`).
      const plant = at(sink, {
        institution: instId,
        source: 'wearable',
        file,
        record: `${reg.key}:[*]`,
        person: p.id,
      });
      plant('[*].header.acquisition_provenance.source_name', `PulseOx ${reg.deviceSerial}`, 'device-serial');
      plant('[*].header.user_id', p.email, 'email');
      samples.forEach((s, i) => {
        const record = `${reg.key}:${i}`;
        const header = {
          id: `${rng.hex(8)}-${rng.hex(4)}-4${rng.hex(3)}-a${rng.hex(3)}-${rng.hex(12)}`,
          creation_date_time: isoLocal(s.end + 60_000, off),
          schema_id: omhSchema(s.kind),
          acquisition_provenance: { source_name: `PulseOx ${reg.deviceSerial}`, modality: 'sensed' },
          user_id: p.email,
        };
        // The first patient's last point lost its body in transit: a malformed data point.
        if (reg.ordinal === 1 && i === samples.length - 1) {
          points.push({ header });
          malformed++;
          sink.malformed({
            institution: instId,
            source: 'wearable',
            file,
            record,
            reason: 'Open mHealth data point without body',
          });
        } else points.push({ header, body: omhBody(s, off) });
        records++;
      });
      sink.write(file, JSON.stringify(points, null, 2) + '\n');
      files[file] = points.length;
    } else if (format === 'apple-health') {
      const file = `${instId}/wearable/apple-health/${reg.key}/export.xml`;
      const tz = offsetText(off, false);
      const ad = (t: number) => `${formatPattern(t, off, 'YYYY-MM-DD HH:mm:ss')} ${tz}`;
      const source = p.locale === 'zh-CN' ? `${displayName}的 Apple Watch` : `${p.given}’s Apple Watch`;
      const lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<!DOCTYPE HealthData [',
        '<!ELEMENT HealthData (ExportDate,Me,(Record|Correlation|Workout|ActivitySummary)*)>',
        '<!ATTLIST HealthData locale CDATA #REQUIRED>',
        ']>',
        `<HealthData locale="${p.locale === 'zh-CN' ? 'zh_CN' : 'en_US'}">`,
        ` <ExportDate value="${ad(ANCHOR_DAY)}"/>`,
        ` <Me HKCharacteristicTypeIdentifierDateOfBirth="${p.birthDate}" HKCharacteristicTypeIdentifierBiologicalSex="${p.sex === 'male' ? 'HKBiologicalSexMale' : 'HKBiologicalSexFemale'}" HKCharacteristicTypeIdentifierBloodType="HKBloodTypeNotSet" HKCharacteristicTypeIdentifierFitzpatrickSkinType="HKFitzpatrickSkinTypeNotSet"/>`,
      ];
      at(sink, { institution: instId, source: 'wearable', file, record: `${reg.key}:Me`, person: p.id })(
        'Me/@HKCharacteristicTypeIdentifierDateOfBirth',
        p.birthDate,
        'birth-date',
      );
      // sourceName and device repeat on every Record: listed once, for all Records (`Record[*]`).
      const plantAll = at(sink, {
        institution: instId,
        source: 'wearable',
        file,
        record: `${reg.key}:Record[*]`,
        person: p.id,
      });
      plantAll('Record/@sourceName', source, 'name');
      plantAll('Record/@device', reg.deviceSerial, 'device-serial');
      let idx = 0;
      const device = `&lt;&lt;HKDevice: 0x1700${rng.hex(5)}&gt;, name:Apple Watch, manufacturer:Apple Inc., model:Watch, hardware:Watch6,2, software:9.1, localIdentifier:${reg.deviceSerial}&gt;`;
      for (const s of samples) {
        const recs = appleRecords(s);
        for (const r of recs) {
          lines.push(
            ` <Record type="${r.type}" sourceName="${xmlEscape(source)}" sourceVersion="9.1" device="${device}"${r.unit ? ` unit="${r.unit}"` : ''} creationDate="${ad(s.end + 60_000)}" startDate="${ad(s.start)}" endDate="${ad(s.end)}" value="${r.value}"/>`,
          );
          idx++;
          records++;
        }
      }
      lines.push('</HealthData>', '');
      sink.write(file, lines.join('\n'));
      files[file] = idx;
    } else {
      const file = `${instId}/wearable/vendor/${reg.key}.json`;
      const plant = at(sink, {
        institution: instId,
        source: 'wearable',
        file,
        record: `${reg.key}:user`,
        person: p.id,
      });
      const user = {
        userId: `pb-${rng.hex(6)}`,
        displayName,
        email: p.email,
        phone: p.phoneDigits,
        birthday: p.birthDate,
        gender: p.sex,
      };
      plant('user.displayName', displayName, 'name');
      plant('user.email', p.email, 'email');
      plant('user.phone', p.phoneDigits, 'phone');
      plant('user.birthday', p.birthDate, 'birth-date');
      plant('device.serial', reg.deviceSerial, 'device-serial');
      const out = samples.map((s) => {
        // Some firmware writes epoch milliseconds instead of ISO timestamps.
        const epoch = rng.chance(0.15);
        const t = (x: number) => (epoch ? x : isoLocal(x, off));
        if (s.kind === 'blood_pressure')
          return {
            type: s.kind,
            systolic: s.value,
            diastolic: s.value2,
            unit: 'mmHg',
            start: t(s.start),
            end: t(s.end),
          };
        return {
          type: s.kind,
          value: s.value,
          unit: { heart_rate: 'bpm', steps: 'count', spo2: '%', sleep: 'min', body_weight: 'kg' }[s.kind],
          start: t(s.start),
          end: t(s.end),
        };
      });
      const doc = {
        vendor: 'PulseBand',
        exportVersion: '2.3',
        exportedAt: isoLocal(ANCHOR_DAY, off),
        user,
        device: { model: 'PulseBand 5', serial: reg.deviceSerial, firmware: '5.1.2' },
        samples: out,
      };
      sink.write(file, JSON.stringify(doc, null, 2) + '\n');
      records += out.length;
      files[file] = out.length;
    }
  }
  const unit = format === 'openmhealth' ? 'data-point' : format === 'apple-health' ? 'record' : 'sample';
  sink.count({ institution: instId, source: 'wearable', format, unit, records, malformed, breakdown: files });
}

function omhSchema(kind: Sample['kind']): { namespace: string; name: string; version: string } {
  const m = {
    heart_rate: ['heart-rate', '2.0'],
    steps: ['step-count', '3.0'],
    spo2: ['oxygen-saturation', '2.0'],
    sleep: ['sleep-duration', '2.0'],
    blood_pressure: ['blood-pressure', '4.0'],
    body_weight: ['body-weight', '2.0'],
  }[kind];
  return { namespace: 'omh', name: m[0], version: m[1] };
}

function omhBody(s: Sample, off: number): Record<string, unknown> {
  const point = { effective_time_frame: { date_time: isoLocal(s.start, off) } };
  const interval = {
    effective_time_frame: {
      time_interval: { start_date_time: isoLocal(s.start, off), end_date_time: isoLocal(s.end, off) },
    },
  };
  switch (s.kind) {
    case 'heart_rate':
      return { heart_rate: { value: s.value, unit: 'beats/min' }, ...point };
    case 'steps':
      return { step_count: { value: s.value, unit: 'steps' }, ...interval };
    case 'spo2':
      return {
        oxygen_saturation: { value: s.value, unit: '%' },
        measurement_method: 'pulse oximetry',
        ...point,
      };
    case 'sleep':
      return { sleep_duration: { value: s.value, unit: 'min' }, ...interval };
    case 'blood_pressure':
      return {
        systolic_blood_pressure: { value: s.value, unit: 'mmHg' },
        diastolic_blood_pressure: { value: s.value2, unit: 'mmHg' },
        ...point,
      };
    default:
      return { body_weight: { value: s.value, unit: 'kg' }, ...point };
  }
}

function appleRecords(s: Sample): { type: string; unit?: string; value: number | string }[] {
  switch (s.kind) {
    case 'heart_rate':
      return [{ type: 'HKQuantityTypeIdentifierHeartRate', unit: 'count/min', value: s.value }];
    case 'steps':
      return [{ type: 'HKQuantityTypeIdentifierStepCount', unit: 'count', value: s.value }];
    case 'spo2':
      return [{ type: 'HKQuantityTypeIdentifierOxygenSaturation', unit: '%', value: s.value / 100 }];
    case 'sleep':
      return [{ type: 'HKCategoryTypeIdentifierSleepAnalysis', value: 'HKCategoryValueSleepAnalysisAsleep' }];
    case 'blood_pressure':
      return [
        { type: 'HKQuantityTypeIdentifierBloodPressureSystolic', unit: 'mmHg', value: s.value },
        { type: 'HKQuantityTypeIdentifierBloodPressureDiastolic', unit: 'mmHg', value: s.value2 ?? 0 },
      ];
    default:
      return [{ type: 'HKQuantityTypeIdentifierBodyMass', unit: 'kg', value: s.value }];
  }
}
