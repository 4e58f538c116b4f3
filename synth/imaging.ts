/**
 * PACS content: one small study per selected patient, DICOM Part 10 via the imaging package's writer. PHI sits in
 * the usual header attributes, in nested sequences, in a private tag, and (ultrasound cine) burned into pixels.
 */
import { writePart10, type DicomElementInput } from '../imaging/dicom-write';
import type { PhiType } from '../schemas/ground-truth';
import { hospitalName, type Registration, type Study, type World } from './model';
import type { Sink } from './sink';
import { Rng } from './prng';
import { localParts, ageOn } from './dates';
import { drawText, drawableText, measureText } from './font';

const SOP_CLASS = {
  CT: '1.2.840.10008.5.1.4.1.1.2',
  MR: '1.2.840.10008.5.1.4.1.1.4',
  CR: '1.2.840.10008.5.1.4.1.1.1',
  US: '1.2.840.10008.5.1.4.1.1.3.1',
} as const;
const PRIVATE_CREATOR = 'TRIBUTARY SYNTH 1.0';

export function makeUid(rng: Rng): string {
  return `2.25.${BigInt(`0x${rng.hex(31)}`).toString(10)}`;
}

const pad2 = (n: number) => String(n).padStart(2, '0');

function dicomDate(t: number, off: number): string {
  const p = localParts(t, off);
  return `${p.y}${pad2(p.mo)}${pad2(p.d)}`;
}
function dicomTime(t: number, off: number): string {
  const p = localParts(t, off);
  return `${pad2(p.h)}${pad2(p.mi)}${pad2(p.s)}`;
}

/** Person Name as written by this modality: Latin, plus ideographic group for Chinese names. */
function dicomPersonName(reg: Registration): string {
  const p = reg.person;
  if (p.locale === 'zh-CN') return `${p.familyLatin}^${p.givenLatin}=${p.family}^${p.given}`;
  return [p.family.toUpperCase(), p.given.toUpperCase(), p.middle ?? ''].join('^').replace(/\^$/, '');
}

function doctorPn(name: string): string {
  const parts = name.split(' ');
  return parts.length > 1 ? `${parts[parts.length - 1]}^${parts.slice(0, -1).join(' ')}` : name;
}

/** A smooth phantom with noise: an ellipse body, an inner structure, values in [lo, hi]. */
function phantom16(rng: Rng, w: number, h: number, lo: number, hi: number, slice: number): Buffer {
  // Little-endian hosts only (x86, arm64): the Uint16Array bytes are the OW value as written.
  const px = new Uint16Array(w * h);
  const cx = w / 2;
  const cy = h / 2;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const dx = (x - cx) / (w * 0.42);
      const dy = (y - cy) / (h * 0.36);
      const r = dx * dx + dy * dy;
      const inner = ((x - cx * (0.8 + slice * 0.05)) / (w * 0.12)) ** 2 + ((y - cy) / (h * 0.15)) ** 2;
      let v = r > 1 ? lo : inner < 1 ? hi * 0.8 : lo + (hi - lo) * 0.45;
      v += (rng.next() - 0.5) * (hi - lo) * 0.04;
      px[y * w + x] = Math.max(0, Math.min(65535, Math.round(v)));
    }
  }
  return Buffer.from(px.buffer, px.byteOffset, px.byteLength);
}

function usFrame(rng: Rng, w: number, h: number, f: number): Uint8Array {
  const frame = new Uint8Array(w * h);
  const apexX = w / 2;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const ang = Math.atan2(x - apexX, y + 4);
      if (Math.abs(ang) > 0.7 || y < 18) continue; // sector; keep the top band clear for the annotation
      const beat = Math.sin((y / h) * 6 + f * 0.9) * 20;
      frame[y * w + x] = Math.max(0, Math.min(230, Math.round(60 + beat + rng.next() * 70)));
    }
  }
  return frame;
}

export function writeImaging(world: World, instId: string, regs: Registration[], sink: Sink): void {
  const off = world.offsets.get(instId) as number;
  const inst = regs[0]?.institution;
  let instances = 0;
  const byModality: Record<string, number> = {};
  for (const reg of regs) {
    if (!reg.study || !inst) continue;
    const st = reg.study;
    const rng = new Rng(world.seed, `dicom:${instId}:${st.ordinal}`);
    const studyUid = makeUid(rng);
    const seriesUid = makeUid(rng);
    const frameOfRef = makeUid(rng);
    const refPatientUid = makeUid(rng);
    const n = st.modality === 'CT' ? 3 : st.modality === 'MR' ? 2 : 1;
    for (let k = 1; k <= n; k++) {
      const sopUid = makeUid(rng);
      const file = `${instId}/imaging/study-${String(st.ordinal).padStart(4, '0')}/series-01/instance-${String(k).padStart(4, '0')}.dcm`;
      const plants: [string, string, PhiType][] = [];
      const el = (
        tag: string,
        vr: string,
        value: DicomElementInput['value'],
        phi?: PhiType,
      ): DicomElementInput => {
        if (phi && typeof value === 'string') plants.push([tag, value, phi]);
        return { tag, vr, value };
      };
      const bytes = writePart10({
        elements: buildElements(reg, st, {
          studyUid,
          seriesUid,
          frameOfRef,
          refPatientUid,
          sopUid,
          k,
          off,
          inst,
          rng,
          el,
          plants,
          sink,
          file,
        }),
      });
      sink.write(file, bytes);
      for (const [path, value, type] of plants)
        sink.plant(
          { institution: instId, source: 'imaging', file, record: sopUid, path, person: reg.person.id },
          value,
          type,
        );
      instances++;
      byModality[st.modality] = (byModality[st.modality] ?? 0) + 1;
    }
  }
  sink.count({
    institution: instId,
    source: 'imaging',
    format: 'dicom',
    unit: 'instance',
    records: instances,
    malformed: 0,
    breakdown: byModality,
  });
}

interface BuildCtx {
  studyUid: string;
  seriesUid: string;
  frameOfRef: string;
  refPatientUid: string;
  sopUid: string;
  k: number;
  off: number;
  inst: Registration['institution'];
  rng: Rng;
  el: (tag: string, vr: string, value: DicomElementInput['value'], phi?: PhiType) => DicomElementInput;
  plants: [string, string, PhiType][];
  sink: Sink;
  file: string;
}

function buildElements(reg: Registration, st: Study, c: BuildCtx): DicomElementInput[] {
  const { el, off, inst, rng } = c;
  const p = reg.person;
  const zh = p.locale === 'zh-CN';
  const age = ageOn(p.birthDate, st.time);
  const studyDate = dicomDate(st.time, off);
  const hospital = hospitalName(inst);
  const e: DicomElementInput[] = [
    el('(0008,0005)', 'CS', zh ? 'ISO_IR 192' : 'ISO_IR 100'),
    el('(0008,0008)', 'CS', ['ORIGINAL', 'PRIMARY', st.modality === 'US' ? '' : 'AXIAL']),
    el('(0008,0016)', 'UI', SOP_CLASS[st.modality]),
    el('(0008,0018)', 'UI', c.sopUid),
    el('(0008,0020)', 'DA', studyDate, 'date'),
    el('(0008,0021)', 'DA', studyDate, 'date'),
    el('(0008,0030)', 'TM', dicomTime(st.time, off)),
    el('(0008,0050)', 'SH', st.accession, 'accession'),
    el('(0008,0060)', 'CS', st.modality),
    el('(0008,0070)', 'LO', inst.imaging.manufacturer),
    el('(0008,0080)', 'LO', hospital, 'hospital'),
    el('(0008,0090)', 'PN', doctorPn(st.referringDoctor), 'doctor'),
    el(
      '(0008,1030)',
      'LO',
      { CT: 'CT CHEST W CONTRAST', MR: 'MR BRAIN WO', CR: 'XR CHEST PA', US: 'ECHO LIMITED' }[st.modality],
    ),
    el('(0008,1120)', 'SQ', [
      [
        el('(0008,1150)', 'UI', '1.2.840.10008.3.1.2.1.1'),
        { tag: '(0008,1155)', vr: 'UI', value: c.refPatientUid },
      ],
    ]),
    el('(0009,0010)', 'LO', PRIVATE_CREATOR),
    el('(0009,1010)', 'LO', zh ? p.family + p.given : `${p.given} ${p.family}`, 'name'),
    el('(0010,0010)', 'PN', dicomPersonName(reg), 'name'),
    el('(0010,0020)', 'LO', reg.mrn, 'mrn'),
    el('(0010,0030)', 'DA', p.birthDate.replaceAll('-', ''), 'birth-date'),
    el('(0010,0040)', 'CS', p.sex === 'male' ? 'M' : 'F'),
    el('(0010,1000)', 'LO', p.nationalId, 'national-id'),
    el(
      '(0010,1010)',
      'AS',
      `${String(Math.min(age, 999)).padStart(3, '0')}Y`,
      age > 89 ? 'age-over-89' : undefined,
    ),
    // What modalities write and research PACS route on: ImagingStudy.series.bodySite comes from it.
    el('(0018,0015)', 'CS', { CT: 'CHEST', MR: 'HEAD', CR: 'CHEST', US: 'HEART' }[st.modality]),
    el('(0018,1000)', 'LO', reg.deviceSerial, 'device-serial'),
    el('(0020,000D)', 'UI', c.studyUid, 'uid'),
    el('(0020,000E)', 'UI', c.seriesUid),
    el('(0020,0010)', 'SH', String(st.ordinal)),
    el('(0020,0011)', 'IS', '1'),
    el('(0020,0013)', 'IS', String(c.k)),
    el('(0040,0275)', 'SQ', [
      [
        { tag: '(0040,0002)', vr: 'DA', value: studyDate },
        { tag: '(0040,1001)', vr: 'SH', value: st.accession },
        { tag: '(0040,0007)', vr: 'LO', value: 'ROUTINE' },
      ],
    ]),
  ];
  c.plants.push(
    ['(0040,0275)[0].(0040,0002)', studyDate, 'date'],
    ['(0040,0275)[0].(0040,1001)', st.accession, 'accession'],
  );
  // ReferencedSOPInstanceUID in ReferencedPatientSequence points at the person: an identifier too.
  c.plants.push(['(0008,1120)[0].(0008,1155)', c.refPatientUid, 'uid']);
  if (st.modality === 'US') {
    const w = 160;
    const h = 120;
    const frames = 4;
    const text = drawableText(zh ? `${p.familyLatin} ${p.givenLatin}` : reg.name.text);
    const scale = measureText(text, 2).width <= w - 8 ? 2 : 1;
    const size = measureText(text, scale);
    const box = { x: 4, y: 3, width: Math.min(size.width, w - 4), height: size.height };
    const pixels = Buffer.alloc(w * h * frames);
    for (let f = 0; f < frames; f++) {
      const frame = usFrame(rng, w, h, f);
      drawText(frame, w, h, box.x, box.y, text, scale, 255);
      pixels.set(frame, f * w * h);
    }
    c.plants.push(['pixels', text, 'name']);
    c.sink.burnedIn.push({
      institution: inst.id,
      file: c.file,
      sopInstanceUid: c.sopUid,
      frames: [...Array(frames).keys()],
      box,
      text,
      person: p.id,
    });
    e.push(
      el('(0018,1063)', 'DS', '33.3'),
      el('(0028,0002)', 'US', 1),
      el('(0028,0004)', 'CS', 'MONOCHROME2'),
      el('(0028,0008)', 'IS', String(frames)),
      el('(0028,0009)', 'AT', Buffer.from([0x18, 0x00, 0x63, 0x10])),
      el('(0028,0010)', 'US', h),
      el('(0028,0011)', 'US', w),
      el('(0028,0100)', 'US', 8),
      el('(0028,0101)', 'US', 8),
      el('(0028,0102)', 'US', 7),
      el('(0028,0103)', 'US', 0),
      el('(0028,0301)', 'CS', 'YES'),
      el('(7FE0,0010)', 'OB', pixels),
    );
    return e;
  }
  const size = st.modality === 'CR' ? 192 : 128;
  const ct = st.modality === 'CT';
  const hi = ct ? 2200 : st.modality === 'MR' ? 1400 : 3800;
  e.push(
    el('(0018,0050)', 'DS', st.modality === 'CR' ? '' : '5'),
    el('(0020,0032)', 'DS', ['-160', '-160', String(c.k * 5)]),
    el('(0020,0037)', 'DS', ['1', '0', '0', '0', '1', '0']),
    el('(0020,0052)', 'UI', c.frameOfRef),
    el('(0028,0002)', 'US', 1),
    el('(0028,0004)', 'CS', 'MONOCHROME2'),
    el('(0028,0010)', 'US', size),
    el('(0028,0011)', 'US', size),
    el('(0028,0030)', 'DS', ['2.5', '2.5']),
    el('(0028,0100)', 'US', 16),
    el('(0028,0101)', 'US', 12),
    el('(0028,0102)', 'US', 11),
    el('(0028,0103)', 'US', 0),
    el('(0028,0301)', 'CS', 'NO'),
    ...(ct
      ? [
          el('(0028,1050)', 'DS', '40'),
          el('(0028,1051)', 'DS', '400'),
          el('(0028,1052)', 'DS', '-1024'),
          el('(0028,1053)', 'DS', '1'),
        ]
      : []),
    el('(7FE0,0010)', 'OW', phantom16(rng, size, size, ct ? 0 : 20, Math.min(hi, 4095), c.k)),
  );
  return e.filter((x) => !(x.vr === 'DS' && x.value === ''));
}
