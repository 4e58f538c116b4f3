/** EHR as a FHIR R4 server's store: one NDJSON file per resource type (served by `synth serve`). */
import type { Registration, World } from './model';
import type { Sink } from './sink';
import { at } from './sink';
import { isoLocal, isoUtc } from './dates';
import { Rng } from './prng';

const TYPES = [
  'Patient',
  'Encounter',
  'Condition',
  'Observation',
  'MedicationRequest',
  'DocumentReference',
] as const;
const NOTE_LOINC: Record<string, [string, string]> = {
  'discharge-summary': ['18842-5', 'Discharge summary'],
  'radiology-report': ['18748-4', 'Diagnostic imaging study'],
  'chest-pain': ['34117-2', 'History and physical note'],
};

export function writeFhirEhr(world: World, instId: string, regs: Registration[], sink: Sink): void {
  const off = world.offsets.get(instId) as number;
  const byType: Record<string, string[]> = Object.fromEntries(TYPES.map((t) => [t, []]));
  const base = (file: string, record: string, person: string) =>
    at(sink, { institution: instId, source: 'ehr', file, record, person });
  const file = (t: string) => `${instId}/ehr/fhir/${t}.ndjson`;
  let malformedDone = false;
  // Some lab interfaces stamp results in UTC rather than local time: same instant, different text.
  const rng = new Rng(world.seed, `fhir:${instId}`);
  regs.forEach((reg, regIndex) => {
    const n = String(reg.ordinal).padStart(4, '0');
    const pid = `pt-${n}`;
    const p = reg.person;
    const plant = base(file('Patient'), `Patient/${pid}`, p.id);
    const lastUpdated = (t: number) => isoUtc(t + 3_600_000);
    const patient: Record<string, unknown> = {
      resourceType: 'Patient',
      id: pid,
      meta: { lastUpdated: lastUpdated(reg.visits[0].start) },
      identifier: [
        {
          use: 'usual',
          type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] },
          system: `urn:tributary:mrn:${instId}`,
          value: reg.mrn,
        },
        p.nationalIdType === 'cn-resident-id'
          ? {
              use: 'official',
              type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'NI' }] },
              system: 'urn:tributary:cn-resident-id',
              value: p.nationalId,
            }
          : {
              use: 'official',
              type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'SS' }] },
              system: 'http://hl7.org/fhir/sid/us-ssn',
              value: p.nationalId,
            },
      ],
      name: [{ use: 'official', text: reg.name.text, family: reg.name.family, given: reg.name.given }],
      gender: p.sex,
      birthDate: p.birthDate,
    };
    plant('identifier[0].value', reg.mrn, 'mrn');
    plant('identifier[1].value', p.nationalId, 'national-id');
    plant('name[0].text', reg.name.text, 'name');
    plant('birthDate', p.birthDate, 'birth-date');
    const telecom: unknown[] = [];
    if (reg.phone) {
      plant(`telecom[${telecom.length}].value`, reg.phone, 'phone');
      telecom.push({ system: 'phone', value: reg.phone, use: 'mobile' });
    }
    if (reg.email) {
      plant(`telecom[${telecom.length}].value`, reg.email, 'email');
      telecom.push({ system: 'email', value: reg.email });
    }
    if (telecom.length) patient.telecom = telecom;
    if (reg.address) {
      patient.address = [
        {
          use: 'home',
          text: reg.address,
          line: [p.address.line],
          city: p.address.city,
          state: p.address.state,
          postalCode: p.address.postal,
          country: p.locale === 'zh-CN' ? 'CN' : 'US',
        },
      ];
      plant('address[0].text', reg.address, 'address');
      plant('address[0].line[0]', p.address.line, 'address');
      plant('address[0].postalCode', p.address.postal, 'postal-code');
    }
    byType.Patient.push(JSON.stringify(patient));

    reg.visits.forEach((v) => {
      const vk = `${n}-${v.ordinal}`;
      const encId = `enc-${vk}`;
      const enc: Record<string, unknown> = {
        resourceType: 'Encounter',
        id: encId,
        meta: { lastUpdated: lastUpdated(v.end ?? v.start) },
        identifier: [{ system: `urn:tributary:visit:${instId}`, value: v.id }],
        status: 'finished',
        class: {
          system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
          code: v.type === 'inpatient' ? 'IMP' : v.type === 'emergency' ? 'EMER' : 'AMB',
        },
        subject: { reference: `Patient/${pid}` },
        participant: [{ individual: { display: v.doctor } }],
        period: v.end
          ? { start: isoLocal(v.start, off), end: isoLocal(v.end, off) }
          : { start: isoLocal(v.start, off) },
        serviceProvider: { display: world.hospitalNames.get(instId) },
      };
      const pe = base(file('Encounter'), `Encounter/${encId}`, p.id);
      pe('period.start', isoLocal(v.start, off), 'date');
      pe('participant[0].individual.display', v.doctor, 'doctor');
      pe('serviceProvider.display', world.hospitalNames.get(instId), 'hospital');
      byType.Encounter.push(JSON.stringify(enc));
      v.diagnoses.forEach((d, i) => {
        byType.Condition.push(
          JSON.stringify({
            resourceType: 'Condition',
            id: `cond-${vk}-${i + 1}`,
            meta: { lastUpdated: lastUpdated(v.start) },
            clinicalStatus: {
              coding: [
                { system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' },
              ],
            },
            category: [
              {
                coding: [
                  {
                    system: 'http://terminology.hl7.org/CodeSystem/condition-category',
                    code: 'encounter-diagnosis',
                  },
                ],
              },
            ],
            code: {
              coding: [{ system: 'http://hl7.org/fhir/sid/icd-10', code: d.def.icd10, display: d.def.en }],
              text: p.locale === 'zh-CN' ? d.def.zh : d.def.en,
            },
            subject: { reference: `Patient/${pid}` },
            encounter: { reference: `Encounter/${encId}` },
            recordedDate: isoLocal(v.start, off),
          }),
        );
      });
      v.labs.forEach((l, i) => {
        const obs: Record<string, unknown> = {
          resourceType: 'Observation',
          id: `obs-${vk}-${i + 1}`,
          meta: { lastUpdated: lastUpdated(l.time) },
          status: 'final',
          category: [
            {
              coding: [
                { system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' },
              ],
            },
          ],
          code: {
            coding: [
              ...(l.localOnly ? [] : [{ system: 'http://loinc.org', code: l.def.loinc, display: l.def.en }]),
              {
                system: `urn:tributary:local-lab:${instId}`,
                code: l.def.localCode,
                display: p.locale === 'zh-CN' ? l.def.zh : l.def.en,
              },
            ],
          },
          subject: { reference: `Patient/${pid}` },
          encounter: { reference: `Encounter/${encId}` },
          effectiveDateTime: rng.chance(0.1) ? isoUtc(l.time) : isoLocal(l.time, off),
        };
        if (l.numeric !== undefined)
          obs.valueQuantity = l.unit
            ? { value: l.numeric, unit: l.unit, system: 'http://unitsofmeasure.org', code: l.unit }
            : { value: l.numeric };
        else obs.valueString = l.value;
        if (l.flag)
          obs.interpretation = [
            {
              coding: [
                {
                  system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation',
                  code: l.flag,
                },
              ],
            },
          ];
        // One Observation per institution is planted without its required status, to be quarantined.
        if (!malformedDone && regIndex === regs.length - 1) {
          delete obs.status;
          malformedDone = true;
          sink.malformed({
            institution: instId,
            source: 'ehr',
            file: file('Observation'),
            record: `Observation/${obs.id}`,
            reason: 'missing required element Observation.status',
          });
        }
        byType.Observation.push(JSON.stringify(obs));
      });
      v.prescriptions.forEach((rx, i) => {
        byType.MedicationRequest.push(
          JSON.stringify({
            resourceType: 'MedicationRequest',
            id: `medrx-${vk}-${i + 1}`,
            meta: { lastUpdated: lastUpdated(rx.time) },
            status: 'active',
            intent: 'order',
            medicationCodeableConcept: {
              coding: [
                {
                  system: 'http://www.nlm.nih.gov/research/umls/rxnorm',
                  code: rx.def.rxnorm,
                  display: rx.def.en,
                },
              ],
              text: p.locale === 'zh-CN' ? rx.def.zh : rx.def.en,
            },
            subject: { reference: `Patient/${pid}` },
            encounter: { reference: `Encounter/${encId}` },
            authoredOn: isoLocal(rx.time, off),
            requester: { display: rx.doctor },
            dosageInstruction: [
              {
                text: `${rx.def.dose} ${rx.def.doseUnit} ${rx.def.route} ${rx.def.frequency}`,
                doseAndRate: [{ doseQuantity: { value: rx.def.dose, unit: rx.def.doseUnit } }],
              },
            ],
            dispenseRequest: {
              expectedSupplyDuration: {
                value: rx.days,
                unit: 'days',
                system: 'http://unitsofmeasure.org',
                code: 'd',
              },
            },
          }),
        );
      });
      v.notes.forEach((note, i) => {
        const docId = `doc-${vk}-${i + 1}`;
        const [code, display] = NOTE_LOINC[note.type];
        const pd = base(file('DocumentReference'), `DocumentReference/${docId}`, p.id);
        byType.DocumentReference.push(
          JSON.stringify({
            resourceType: 'DocumentReference',
            id: docId,
            meta: { lastUpdated: lastUpdated(note.time) },
            status: 'current',
            type: { coding: [{ system: 'http://loinc.org', code, display }] },
            subject: { reference: `Patient/${pid}` },
            date: isoLocal(note.time, off),
            author: [{ display: note.author }],
            content: [
              {
                attachment: {
                  contentType: 'text/plain; charset=utf-8',
                  language: p.locale,
                  data: Buffer.from(note.text, 'utf8').toString('base64'),
                },
              },
            ],
            context: { encounter: [{ reference: `Encounter/${encId}` }] },
          }),
        );
        pd('author[0].display', note.author, 'doctor');
        for (const pl of note.plants) pd('content[0].attachment.data', pl.value, pl.type);
      });
    });
  });
  const breakdown: Record<string, number> = {};
  let total = 0;
  for (const t of TYPES) {
    sink.write(file(t), byType[t].map((l) => l + '\n').join(''));
    breakdown[t] = byType[t].length;
    total += byType[t].length;
  }
  sink.count({
    institution: instId,
    source: 'ehr',
    format: 'fhir-api',
    unit: 'resource',
    records: total,
    malformed: malformedDone ? 1 : 0,
    breakdown,
  });
}
