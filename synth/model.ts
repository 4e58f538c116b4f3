/**
 * The synthetic world, independent of any file format: persons (some attending two or three institutions),
 * each person's registration at each institution (MRN, name/phone/address as that desk wrote them), visits with
 * diagnoses, labs, prescriptions and notes. Format writers serialize this and record where they planted PHI.
 */
import type { FullInstitution } from '../schemas/institution';
import { Rng } from './prng';
import * as N from './names';
import { diagnoses, labs, drugs, type DiagnosisDef, type DrugDef, type LabDef } from './catalog';
import { makeResidentId, makeSsn, formatCnPhone, formatUsPhone } from './identity';
import { ANCHOR_DAY, WINDOW_START, MS_DAY, zoneOffsetMinutes } from './dates';
import { writeNote, type Note } from './notes';

export type Locale = 'zh-CN' | 'en-US';

export interface Person {
  id: string;
  locale: Locale;
  sex: 'male' | 'female';
  birthDate: string;
  nationalId: string;
  nationalIdType: 'cn-resident-id' | 'us-ssn';
  /** zh: surname + given in Han characters, with pinyin; en: first, middle initial, last. */
  family: string;
  given: string;
  familyLatin: string;
  givenLatin: string;
  middle?: string;
  nickname?: string;
  phoneDigits: string;
  email: string;
  address: { line: string; lineShort: string; district: string; city: string; state: string; postal: string };
}

export interface WrittenName {
  text: string;
  family: string;
  given: string[];
}

export interface LabResult {
  def: LabDef;
  value: string;
  numeric?: number;
  unit: string;
  refRange: string;
  flag: '' | 'H' | 'L';
  time: number;
  /** Local code only (no LOINC) on purpose. */
  localOnly: boolean;
}

export interface Prescription {
  def: DrugDef;
  days: number;
  time: number;
  doctor: string;
}

export interface Visit {
  id: string;
  ordinal: number;
  type: 'outpatient' | 'inpatient' | 'emergency';
  start: number;
  end?: number;
  department: string;
  doctor: string;
  diagnoses: { def: DiagnosisDef; primary: boolean }[];
  labs: LabResult[];
  prescriptions: Prescription[];
  notes: Note[];
}

export interface Study {
  ordinal: number;
  modality: 'CT' | 'MR' | 'CR' | 'US';
  accession: string;
  time: number;
  referringDoctor: string;
  visit: Visit;
}

export interface Registration {
  ordinal: number;
  key: string; // patient-0001
  person: Person;
  institution: FullInstitution;
  mrn: string;
  name: WrittenName;
  phone?: string;
  address?: string;
  email?: string;
  insuranceId?: string;
  visits: Visit[];
  study?: Study;
  wearable: boolean;
  deviceSerial: string;
}

export interface World {
  seed: string;
  institutions: FullInstitution[];
  persons: Person[];
  registrations: Map<string, Registration[]>;
  offsets: Map<string, number>;
  hospitalNames: Map<string, string>;
}

export interface WorldOptions {
  seed: string;
  institutions: FullInstitution[];
  patients: number;
  /** Share of an institution's patients who also attend another institution of the same locale. */
  overlapShare?: number;
}

/** The name a hospital writes on its own documents: the registry name without the "(..., fictional)" gloss. */
export function hospitalName(inst: FullInstitution): string {
  return inst.name.replace(/\s*\(.*\)\s*$/, '');
}

function makePerson(rng: Rng, id: string, locale: Locale, serial: number): Person {
  const sex = rng.chance(0.5) ? 'male' : 'female';
  // About 4% are over 89 on the anchor day, so ages >89 get exercised.
  const age = rng.chance(0.04) ? rng.int(90, 101) : rng.int(1, 88);
  const by = 2025 - age - 1;
  const bm = rng.int(1, 12);
  const bd = rng.int(1, 28);
  const birthDate = `${by}-${String(bm).padStart(2, '0')}-${String(bd).padStart(2, '0')}`;
  if (locale === 'zh-CN') {
    const [family, familyLatin] = rng.pick(N.cnSurnames);
    const g1 = rng.pick(N.cnGivenChars);
    const two = g1[0].length === 1 && rng.chance(0.5);
    const g2 = two ? rng.pick(N.cnGivenChars.filter((g) => g[0].length === 1)) : undefined;
    const given = g1[0] + (g2 ? g2[0] : '');
    const givenLatin = g1[1] + (g2 ? g2[1].toLowerCase() : '');
    const c = rng.pick(N.cnCities);
    const district = rng.pick(c.districts);
    const street = rng.pick(N.cnStreets);
    const no = rng.int(1, 399);
    const unit = rng.int(1, 6);
    const room = `${rng.int(1, 28)}${String(rng.int(1, 4)).padStart(2, '0')}`;
    const phoneDigits = `1${rng.pick(['3', '5', '8', '9'])}${rng.digits(9)}`;
    return {
      id,
      locale,
      sex,
      birthDate,
      nationalId: makeResidentId(rng.pick(N.cnRegionCodes), birthDate, serial, sex === 'male'),
      nationalIdType: 'cn-resident-id',
      family,
      given,
      familyLatin,
      givenLatin,
      phoneDigits,
      email: `${(familyLatin + givenLatin).toLowerCase()}${rng.int(10, 99)}@${rng.pick(['example.cn', 'mail.example.com', 'example.org'])}`,
      address: {
        line: `${c.province === c.city ? '' : c.province}${c.city}${district}${street}${no}号${unit}单元${room}室`,
        lineShort: `${c.city.replace(/市$/, '')}${district}${street}${no}号${unit}-${room}`,
        district,
        city: c.city,
        state: c.province,
        postal: `${c.postal}${rng.digits(3)}`,
      },
    };
  }
  const first = rng.pick(sex === 'male' ? N.enFirstMale : N.enFirstFemale);
  // Eponym surnames a little more often than their share, so small runs still contain them.
  const last = rng.chance(0.12) ? rng.pick(N.eponymSurnames) : rng.pick(N.enLastNames);
  const middle = rng.chance(0.6) ? String.fromCharCode(65 + rng.int(0, 25)) : undefined;
  const c = rng.pick(N.usCities);
  const [streetType, streetShort] = rng.pick(N.usStreetTypes);
  const street = rng.pick(N.usStreets);
  const no = rng.int(10, 9899);
  const apt = rng.chance(0.3) ? rng.int(1, 40) : undefined;
  return {
    id,
    locale,
    sex,
    birthDate,
    nationalId: makeSsn(rng.int(1, 899), rng.int(1, 99), serial * 7 + rng.int(0, 6)),
    nationalIdType: 'us-ssn',
    family: last,
    given: first,
    familyLatin: last,
    givenLatin: first,
    middle,
    nickname: N.enNicknames[first],
    phoneDigits: `${rng.int(2, 9)}${rng.digits(2)}${rng.int(2, 9)}${rng.digits(6)}`,
    email: `${first.toLowerCase()}.${last.toLowerCase().replace(/'/g, '')}${rng.int(1, 99)}@${rng.pick(['example.com', 'mail.example.net', 'example.org'])}`,
    address: {
      line: `${no} ${street} ${streetType}${apt ? `, Apt ${apt}` : ''}`,
      lineShort: `${no} ${street} ${streetShort}${apt ? ` #${apt}` : ''}`,
      district: '',
      city: c.city,
      state: c.state,
      postal: `${c.zip}${rng.digits(2)}`,
    },
  };
}

/** How this institution's registration desk wrote the person's name (differs per institution on purpose). */
function writeName(p: Person, style: number): WrittenName {
  if (p.locale === 'zh-CN') {
    switch (style % 3) {
      case 0:
        return { text: p.family + p.given, family: p.family, given: [p.given] };
      case 1:
        return { text: `${p.family} ${p.given}`, family: p.family, given: [p.given] };
      default:
        return { text: p.family + p.given, family: p.family, given: [p.given] };
    }
  }
  switch (style % 3) {
    case 0:
      return {
        text: [p.given, p.middle ? `${p.middle}.` : undefined, p.family].filter(Boolean).join(' '),
        family: p.family,
        given: p.middle ? [p.given, p.middle] : [p.given],
      };
    case 1: {
      const first = p.nickname ?? p.given;
      return { text: `${first} ${p.family}`, family: p.family, given: [first] };
    }
    default:
      return {
        text: `${p.family.toUpperCase()}, ${p.given.toUpperCase()}`,
        family: p.family.toUpperCase(),
        given: [p.given.toUpperCase()],
      };
  }
}

function writeAddress(p: Person, style: number): string {
  const a = p.address;
  if (p.locale === 'zh-CN') return style % 2 === 0 ? a.line : a.lineShort;
  return style % 2 === 0
    ? `${a.line}, ${a.city}, ${a.state} ${a.postal}`
    : `${a.lineShort}, ${a.city} ${a.state} ${a.postal}`;
}

const zhDepartments = ['心内科', '内分泌科', '神经内科', '呼吸内科', '急诊科', '骨科', '肾内科'];
const enDepartments = [
  'Cardiology',
  'Endocrinology',
  'Neurology',
  'Pulmonology',
  'Emergency',
  'Orthopedics',
  'Nephrology',
];

function makeLab(rng: Rng, def: LabDef, time: number, preferNonSi: boolean): LabResult {
  // Mixed units on purpose: some rows in the non-SI unit even where the institution mostly reports SI.
  const u =
    def.units.length > 1 && (preferNonSi ? !rng.chance(0.15) : rng.chance(0.15))
      ? def.units[1]
      : def.units[0];
  const abnormal = rng.chance(0.3);
  const [lo, hi] = u.normal;
  const [min, max] = u.range;
  const v = abnormal
    ? rng.chance(0.7)
      ? rng.float(hi, max, u.decimals)
      : rng.float(min, lo, u.decimals)
    : rng.float(lo, hi, u.decimals);
  const flag: LabResult['flag'] = v > hi ? 'H' : v < lo ? 'L' : '';
  const censored = def.localCode === 'TNI' && v < 0.01;
  return {
    def,
    value: censored ? '<0.01' : v.toFixed(u.decimals),
    numeric: censored ? undefined : v,
    unit: rng.chance(0.03) ? '' : u.unit,
    refRange: `${lo}-${hi}`,
    flag,
    time,
    localOnly: rng.chance(0.25),
  };
}

export function buildWorld(opts: WorldOptions): World {
  const { seed, institutions, patients } = opts;
  const overlapShare = opts.overlapShare ?? 0.2;
  const persons: Person[] = [];
  const registrations = new Map<string, Registration[]>();
  const offsets = new Map<string, number>();
  const hospitalNames = new Map<string, string>();
  const attends = new Map<string, string[]>(); // person id -> institution ids
  const rngPeople = new Rng(seed, 'persons');
  let personSerial = 0;

  institutions.forEach((inst, instIndex) => {
    offsets.set(inst.id, zoneOffsetMinutes(inst.timezone));
    hospitalNames.set(inst.id, hospitalName(inst));
    const rng = new Rng(seed, `registrations:${inst.id}`);
    const locale = inst.locale;
    const earlier = persons.filter((p) => p.locale === locale && (attends.get(p.id)?.length ?? 0) < 3);
    const regs: Registration[] = [];
    const used = new Set<string>();
    for (let i = 0; i < patients; i++) {
      let person: Person | undefined;
      if (earlier.length > 0 && rng.chance(overlapShare)) {
        for (let tries = 0; tries < 4 && !person; tries++) {
          const cand = rng.pick(earlier);
          if (!used.has(cand.id) && (attends.get(cand.id)?.length ?? 0) < 3) person = cand;
        }
      }
      if (!person) {
        personSerial++;
        person = makePerson(
          rngPeople.fork(seed, `person:${personSerial}`),
          `P${String(personSerial).padStart(6, '0')}`,
          locale,
          personSerial,
        );
        persons.push(person);
      }
      used.add(person.id);
      attends.set(person.id, [...(attends.get(person.id) ?? []), inst.id]);
      const style = instIndex + i;
      const mrn =
        locale === 'zh-CN'
          ? `${['ZY', 'MZ', ''][instIndex % 3]}${String(instIndex + 1).padStart(2, '0')}${rng.digits(7)}`
          : `${rng.int(1, 9)}${rng.digits(6)}`;
      const key = `patient-${String(i + 1).padStart(4, '0')}`;
      const reg: Registration = {
        ordinal: i + 1,
        key,
        person,
        institution: inst,
        mrn,
        name: writeName(person, style),
        phone: rng.chance(0.9)
          ? locale === 'zh-CN'
            ? formatCnPhone(person.phoneDigits, style)
            : formatUsPhone(person.phoneDigits, style)
          : undefined,
        address: rng.chance(0.88) ? writeAddress(person, style) : undefined,
        email: rng.chance(0.5) ? person.email : undefined,
        insuranceId: rng.chance(0.7)
          ? locale === 'zh-CN'
            ? `YB${rng.digits(12)}`
            : `M${rng.digits(9)}`
          : undefined,
        visits: [],
        wearable: false,
        deviceSerial: `${inst.imaging.manufacturer.slice(0, 2).toUpperCase()}${rng.digits(2)}-${rng.hex(4).toUpperCase()}-${rng.digits(4)}`,
      };
      buildVisits(
        new Rng(seed, `visits:${inst.id}:${i}`),
        reg,
        hospitalNames.get(inst.id) as string,
        offsets.get(inst.id) as number,
      );
      regs.push(reg);
    }
    assignStudies(new Rng(seed, `studies:${inst.id}`), inst, regs, patients);
    const wr = new Rng(seed, `wearable:${inst.id}`);
    regs.forEach((r, idx) => (r.wearable = idx === 0 || wr.chance(0.35)));
    registrations.set(inst.id, regs);
  });
  return { seed, institutions, persons, registrations, offsets, hospitalNames };
}

function buildVisits(rng: Rng, reg: Registration, hospital: string, offsetMin: number): void {
  const zh = reg.institution.locale === 'zh-CN';
  const doctors = zh ? N.cnDoctorNames : N.enDoctorNames;
  const nVisits = rng.int(1, 3);
  const preferNonSi = !zh;
  for (let v = 0; v < nVisits; v++) {
    const start =
      WINDOW_START +
      rng.int(0, Math.floor((ANCHOR_DAY - WINDOW_START) / MS_DAY) - 20) * MS_DAY +
      rng.int(0, 86_399) * 1000;
    const dx = rng.pick(diagnoses);
    const type: Visit['type'] = dx.chestPain ? 'emergency' : rng.chance(0.5) ? 'inpatient' : 'outpatient';
    const end =
      type === 'outpatient' ? undefined : start + rng.int(1, 12) * MS_DAY + rng.int(0, 36_000) * 1000;
    const deptIdx = dx.chestPain ? 0 : rng.int(0, zhDepartments.length - 1);
    const doctor = rng.pick(doctors);
    const visit: Visit = {
      id: `${reg.institution.id.slice(0, 2).toUpperCase()}V${reg.ordinal}${String(v + 1).padStart(2, '0')}${rng.digits(4)}`,
      ordinal: v + 1,
      type,
      start,
      end,
      department: (zh ? zhDepartments : enDepartments)[deptIdx],
      doctor,
      diagnoses: [{ def: dx, primary: true }],
      labs: [],
      prescriptions: [],
      notes: [],
    };
    if (rng.chance(0.5))
      visit.diagnoses.push({ def: rng.pick(diagnoses.filter((d) => d !== dx)), primary: false });
    const labDefs = dx.chestPain
      ? labs.filter((l) => ['TNI', 'K', 'GLU', 'CREA'].includes(l.localCode))
      : labs.filter(() => rng.chance(0.5));
    for (const def of labDefs)
      visit.labs.push(makeLab(rng, def, start + rng.int(1, 6) * 3_600_000, preferNonSi));
    const nRx = rng.int(1, 3);
    for (let k = 0; k < nRx; k++)
      visit.prescriptions.push({
        def: rng.pick(drugs),
        days: rng.pick([3, 7, 14, 30, 90]),
        time: start + rng.int(1, 8) * 3_600_000,
        doctor,
      });
    const noteType = dx.chestPain ? 'chest-pain' : 'discharge-summary';
    visit.notes.push(writeNote(rng, { reg, visit, noteType, hospital, offsetMin }));
    reg.visits.push(visit);
  }
}

function assignStudies(rng: Rng, inst: FullInstitution, regs: Registration[], patients: number): void {
  // Every modality appears at least once; beyond that about 8% of patients have a study.
  const count = Math.min(patients, Math.max(inst.imaging.modalities.length, Math.round(patients * 0.08)));
  const offsetMin = zoneOffsetMinutes(inst.timezone);
  const hospital = hospitalName(inst);
  for (let k = 0; k < count; k++) {
    const reg = regs[Math.floor((k * regs.length) / count)];
    const modality = inst.imaging.modalities[k % inst.imaging.modalities.length];
    const visit = reg.visits[0];
    reg.study = {
      ordinal: k + 1,
      modality,
      accession: inst.locale === 'zh-CN' ? `${modality}${rng.digits(10)}` : `A${rng.digits(8)}`,
      time: visit.start + rng.int(1, 5) * 3_600_000,
      referringDoctor: visit.doctor,
      visit,
    };
    visit.notes.push(writeNote(rng, { reg, visit, noteType: 'radiology-report', hospital, offsetMin }));
  }
}

export type { Note };
