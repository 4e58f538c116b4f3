/**
 * Clinical notes with protected values written the way clinicians write them. Every protected span is appended
 * through `phi()` so the manifest records the exact text; nothing is planted by search-and-replace afterwards.
 */
import type { PhiType } from '../schemas/ground-truth';
import type { Rng } from './prng';
import type { Registration, Visit } from './model';
import { noteDate, dateOnly, ageOn, formatPattern, localParts } from './dates';
import { toFullWidthDigits } from './identity';

export type NoteType = 'discharge-summary' | 'radiology-report' | 'chest-pain';

export interface Note {
  type: NoteType;
  author: string;
  time: number;
  text: string;
  plants: { value: string; type: PhiType }[];
}

class NoteBuilder {
  text = '';
  plants: Note['plants'] = [];
  add(s: string): this {
    this.text += s;
    return this;
  }
  phi(value: string, type: PhiType): this {
    this.text += value;
    if (!this.plants.some((p) => p.value === value && p.type === type)) this.plants.push({ value, type });
    return this;
  }
}

/** A national ID as written in free text: whole, split by spaces, or (zh) in full-width digits. */
function writtenId(rng: Rng, reg: Registration): string {
  const id = reg.person.nationalId;
  if (reg.person.nationalIdType === 'cn-resident-id') {
    const s = rng.int(0, 2);
    if (s === 0) return id;
    if (s === 1) return `${id.slice(0, 6)} ${id.slice(6, 14)} ${id.slice(14)}`;
    return toFullWidthDigits(id);
  }
  return rng.chance(0.5) ? id : id.replaceAll('-', ' ');
}

const MODALITY_EXAM: Record<string, [string, string]> = {
  CT: ['CT CHEST WITH CONTRAST', '胸部CT增强'],
  MR: ['MRI BRAIN WITHOUT CONTRAST', '头颅MRI平扫'],
  CR: ['XR CHEST PA AND LATERAL', '胸部正侧位片'],
  US: ['US ECHOCARDIOGRAM LIMITED', '心脏超声'],
};

export function writeNote(
  rng: Rng,
  ctx: { reg: Registration; visit: Visit; noteType: NoteType; hospital: string; offsetMin: number },
): Note {
  const { reg, visit, noteType, hospital, offsetMin } = ctx;
  const zh = reg.institution.locale === 'zh-CN';
  const b = new NoteBuilder();
  const age = ageOn(reg.person.birthDate, visit.start);
  const ageType: PhiType | undefined = age > 89 ? 'age-over-89' : undefined;
  const d = (t: number, style: number) => noteDate(t, offsetMin, zh ? 'zh-CN' : 'en-US', style);
  const dx = visit.diagnoses[0].def;
  const lab = visit.labs[0];
  const rx = visit.prescriptions[0];
  const serial = reg.deviceSerial;
  const url = `https://portal.${reg.institution.id}.example.org/patient/${reg.mrn}`;
  const time = (visit.end ?? visit.start) + 3_600_000;
  const nameInNote = reg.person.locale === 'zh-CN' ? reg.person.family + reg.person.given : reg.name.text;
  const ageText = (suffix: string) =>
    ageType ? b.phi(`${age}${suffix}`, ageType) : b.add(`${age}${suffix}`);

  if (zh) {
    const doc = visit.doctor;
    if (noteType === 'radiology-report') {
      const st = reg.study;
      const [, examZh] = MODALITY_EXAM[st?.modality ?? 'CT'];
      b.add('影像检查报告\n')
        .phi(hospital, 'hospital')
        .add(' 放射科\n检查项目：')
        .add(examZh)
        .add('  检查号：')
        .phi(st?.accession ?? '', 'accession');
      b.add('\n姓名：').phi(nameInNote, 'name').add('  年龄：');
      ageText('岁');
      b.add('  检查日期：').phi(d(st?.time ?? visit.start, 0), 'date');
      b.add('\n申请医师：').phi(doc, 'doctor');
      b.add(
        '\n影像所见：双肺纹理增多，未见明确实变影。心影大小正常。\n诊断意见：未见明显急性病变，建议随访。与',
      )
        .phi(d(visit.start - 180 * 86_400_000, 3), 'date')
        .add('老片比较无明显变化。');
      b.add('\n设备序列号：')
        .phi(serial, 'device-serial')
        .add('\n报告查看：')
        .phi(`${url}/report`, 'url')
        .add('\n');
    } else if (noteType === 'chest-pain') {
      b.add('胸痛中心诊疗记录\n患者')
        .phi(nameInNote, 'name')
        .add('，')
        .add(reg.person.sex === 'male' ? '男' : '女')
        .add('，');
      ageText('岁');
      b.add('，病案号')
        .phi(reg.mrn, 'mrn')
        .add('。\n于')
        .phi(d(visit.start, 0), 'date')
        .add('因“胸骨后压榨样疼痛3小时”由120送入急诊。');
      b.add('首份心电图示ST段抬高。查')
        .add(lab ? `${lab.def.zh}${lab.value}${lab.unit}` : '肌钙蛋白待回报')
        .add('。');
      b.add('\n身份证号：').phi(writtenId(rng, reg), 'national-id');
      b.add('\n家属电话：').phi(toFullWidthDigits(reg.person.phoneDigits), 'phone');
      b.add('\n已通知心内科').phi(doc, 'doctor').add('医师会诊，拟行急诊PCI。诊断：').add(dx.zh).add('。\n');
    } else {
      b.add('出院小结\n')
        .phi(hospital, 'hospital')
        .add('\n姓名：')
        .phi(nameInNote, 'name')
        .add('  性别：')
        .add(reg.person.sex === 'male' ? '男' : '女')
        .add('  年龄：');
      ageText('岁');
      b.add('  住院号：').phi(reg.mrn, 'mrn');
      b.add('\n身份证号：').phi(writtenId(rng, reg), 'national-id');
      b.add('\n入院日期：')
        .phi(d(visit.start, 0), 'date')
        .add('  出院日期：')
        .phi(d(visit.end ?? visit.start, 1), 'date');
      b.add('\n入院诊断：').add(visit.diagnoses.map((x) => x.def.zh).join('；'));
      b.add('\n诊疗经过：患者')
        .phi(reg.person.family + reg.person.given, 'name')
        .add('于')
        .phi(d(visit.start, 4), 'date')
        .add('入院，');
      if (lab) b.add(`查${lab.def.zh}${lab.value}${lab.unit}，`);
      b.add(`予${rx?.def.zh ?? '对症'}治疗后好转。`);
      b.add('\n出院医嘱：门诊随诊，')
        .phi(d(visit.start + 30 * 86_400_000, 2), 'date')
        .add('复查。联系电话：')
        .phi(rng.chance(0.5) ? toFullWidthDigits(reg.person.phoneDigits) : reg.person.phoneDigits, 'phone');
      b.add('，住址：')
        .phi(reg.person.address.line, 'address')
        .add('，邮编')
        .phi(reg.person.address.postal, 'postal-code')
        .add('。');
      if (rng.chance(0.4)) b.add('\n电子邮箱：').phi(reg.person.email, 'email');
      b.add('\n主治医师：')
        .phi(doc, 'doctor')
        .add('  记录时间：')
        .phi(formatPattern(time, offsetMin, 'YYYY-MM-DD HH:mm'), 'date')
        .add('\n');
    }
  } else {
    const doc = visit.doctor;
    // Clinicians write "Dr. Graves" as often as the full name: the surname alone next to "Graves' disease".
    const drDoc = rng.chance(0.5) ? `Dr. ${doc.split(' ').pop()}` : `Dr. ${doc}`;
    if (noteType === 'radiology-report') {
      const st = reg.study;
      const [exam] = MODALITY_EXAM[st?.modality ?? 'CT'];
      b.add('RADIOLOGY REPORT\n')
        .phi(hospital, 'hospital')
        .add(' Department of Radiology\nExam: ')
        .add(exam)
        .add('    Accession: ')
        .phi(st?.accession ?? '', 'accession');
      b.add('\nPatient: ')
        .phi(reg.name.text, 'name')
        .add('    DOB: ')
        .phi(formatPattern(Date.parse(`${reg.person.birthDate}T12:00:00Z`), 0, 'MM/DD/YYYY'), 'birth-date');
      b.add('\nExam date: ')
        .phi(d(st?.time ?? visit.start, 2), 'date')
        .add('    Referring: ')
        .phi(drDoc, 'doctor');
      b.add('\nCOMPARISON: ')
        .phi(d(visit.start - 200 * 86_400_000, 0), 'date')
        .add(
          '.\nFINDINGS: No focal consolidation. Heart size normal. No pleural effusion.\nIMPRESSION: No acute cardiopulmonary process.',
        );
      b.add('\nScanner S/N ')
        .phi(serial, 'device-serial')
        .add('. Images: ')
        .phi(`http://pacs.${reg.institution.id}.example.org/viewer?acc=${st?.accession ?? ''}`, 'url')
        .add('\n');
    } else if (noteType === 'chest-pain') {
      const p = localParts(visit.start, offsetMin);
      b.add('ED CHEST PAIN WORK-UP\nPt ').phi(reg.name.text, 'name').add(' (');
      ageText(' y/o');
      b.add(` ${reg.person.sex === 'male' ? 'M' : 'F'}), MRN `)
        .phi(reg.mrn, 'mrn')
        .add(', arrived ')
        .phi(d(visit.start, 1), 'date');
      b.add(
        ` at ${String(p.h).padStart(2, '0')}${String(p.mi).padStart(2, '0')} via EMS with substernal chest pressure x3h radiating to L arm.`,
      );
      b.add('\nECG: ST elevation II, III, aVF. ').add(
        lab ? `${lab.def.en} ${lab.value} ${lab.unit} at 0h.` : 'Troponin pending.',
      );
      b.add(' HEART score 7.\nDiscussed with ')
        .phi(drDoc, 'doctor')
        .add(' (cardiology) - cath lab activated.');
      b.add('\nSSN ').phi(writtenId(rng, reg), 'national-id').add(' verified with registration.');
      b.add('\nDaughter reachable at ')
        .phi(reg.phone ?? reg.person.phoneDigits, 'phone')
        .add('.');
      b.add(`\nDx: ${dx.en}.\n`);
    } else {
      const eponym = visit.diagnoses.find((x) => /'s |' /.test(x.def.en + ' '));
      b.add('DISCHARGE SUMMARY\n')
        .phi(hospital, 'hospital')
        .add('\nPatient: ')
        .phi(reg.name.text, 'name')
        .add('    MRN: ')
        .phi(reg.mrn, 'mrn');
      b.add('    DOB: ').phi(
        formatPattern(
          Date.parse(`${reg.person.birthDate}T12:00:00Z`),
          0,
          rng.chance(0.5) ? 'MM/DD/YYYY' : 'YYYY-MM-DD',
        ),
        'birth-date',
      );
      b.add('\nAdmitted: ')
        .phi(d(visit.start, 0), 'date')
        .add('    Discharged: ')
        .phi(d(visit.end ?? visit.start, 2), 'date');
      b.add('\nAttending: ').phi(drDoc, 'doctor');
      b.add('\n\nHOSPITAL COURSE: ');
      ageText('-year-old');
      b.add(` ${reg.person.sex === 'male' ? 'man' : 'woman'} admitted with ${dx.en.toLowerCase()}.`);
      if (eponym) b.add(` History of ${eponym.def.en}, followed in clinic.`);
      if (lab) b.add(` Labs notable for ${lab.def.en.toLowerCase()} ${lab.value} ${lab.unit}.`);
      b.add(` Started on ${rx?.def.en ?? 'supportive care'}.`);
      b.add(' Seen again ')
        .phi(d(visit.start + 2 * 86_400_000, 1), 'date')
        .add(', improving.');
      if (rng.chance(0.3))
        b.add(' Loop recorder serial ').phi(serial, 'device-serial').add(' interrogated, no events.');
      b.add('\nDISPOSITION: Home to ')
        .phi(reg.address ?? reg.person.address.line, 'address')
        .add('. Contact ')
        .phi(reg.phone ?? reg.person.phoneDigits, 'phone');
      if (rng.chance(0.5)) b.add(' or ').phi(reg.person.email, 'email');
      b.add('.\nFollow-up with PCP on ')
        .phi(d(visit.start + 14 * 86_400_000, 4), 'date')
        .add('. Results portal: ')
        .phi(url, 'url');
      if (rng.chance(0.2))
        b.add(' (last login from ')
          .phi(`10.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}`, 'ip')
          .add(')');
      b.add('\nElectronically signed: ')
        .phi(drDoc, 'doctor')
        .add(', MD ')
        .phi(dateOnly(time, offsetMin), 'date')
        .add('\n');
    }
  }
  // Empty accession (no study) would be planted as '', which is meaningless: drop empty plants.
  b.plants = b.plants.filter((p) => p.value.length > 0);
  return { type: noteType, author: visit.doctor, time, text: b.text, plants: b.plants };
}
