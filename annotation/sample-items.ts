import type { VerifiedWorkItem, WorkItemContent } from '../schemas/work-item';
import { sealWorkItem } from './seal';

/**
 * De-identified sample work items for tests, benchmarks and `tributary queues serve --demo`. Each comes with the
 * protected values its raw record held (`planted`): the de-identified content must contain none of them, and
 * neither may any API response built from it.
 */

export interface SampleRecord {
  content: WorkItemContent;
  planted: string[];
}

const mark = {
  policy: 'safe-harbor',
  policyVersion: 'sample-1',
  keyId: 'sample-key',
  verifiedAt: '2026-11-25T09:00:00.000Z',
};

/** Raw values the samples' source records held before de-identification. */
const people = [
  { name: 'Harriet Quillfeather', mrn: 'MRN-4471920', birth: '1948-03-17', phone: '(617) 555-0143' },
  { name: '欧阳建华', mrn: 'ZY20231187', birth: '1961-08-02', phone: '13912345678' },
  { name: 'Bartholomew Okonkwo-Reyes', mrn: 'MRN-8820175', birth: '1975-12-30', phone: '(212) 555-0199' },
];

export function sampleRecords(count = 30): SampleRecord[] {
  const out: SampleRecord[] = [];
  for (let i = 0; i < count; i++) {
    const p = people[i % people.length];
    const planted = [p.name, p.mrn, p.birth, p.phone];
    const n = String(i).padStart(4, '0');
    switch (i % 4) {
      case 0:
        out.push({
          planted,
          content: {
            id: `sample-inst:ehr:DocumentReference/note-${n}`,
            institution: 'sample-inst',
            sourceKind: 'ehr',
            resourceType: 'DocumentReference',
            summary: {
              title: 'Emergency department note',
              excerpts: [
                '[PATIENT] is a [AGE]-year-old presenting with central chest pain radiating to the left arm for 2 hours; troponin elevated.',
              ],
              resource: { resourceType: 'DocumentReference', status: 'current', type: { text: 'ED note' } },
            },
            text: 'Central chest pain radiating to the left arm; troponin elevated. Possible acute coronary syndrome.',
          },
        });
        break;
      case 1:
        out.push({
          planted,
          content: {
            id: `sample-inst:wearable:Observation/rhythm-${n}`,
            institution: 'sample-inst',
            sourceKind: 'wearable',
            resourceType: 'Observation',
            summary: {
              title: 'Wearable rhythm flag',
              excerpts: ['Irregular rhythm notification: possible atrial fibrillation, 3 episodes in 24 h.'],
            },
            codes: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }],
            text: 'Irregular rhythm notification: possible atrial fibrillation.',
          },
        });
        break;
      case 2:
        out.push({
          planted,
          content: {
            id: `sample-inst:imaging:ImagingStudy/study-${n}`,
            institution: 'sample-inst',
            sourceKind: 'imaging',
            resourceType: 'ImagingStudy',
            modality: 'CT',
            bodySite: 'CHEST',
            summary: {
              title: 'CT chest without contrast',
              excerpts: ['Axial series, 1.25 mm. Indication: [REDACTED] follow-up of pulmonary nodule.'],
            },
            previews: [{ ref: `sample/study-${n}.png`, caption: 'axial slice' }],
          },
        });
        break;
      default:
        out.push({
          planted,
          content: {
            id: `sample-inst:druglabel:MedicationKnowledge/label-${n}`,
            institution: 'sample-inst',
            sourceKind: 'druglabel',
            resourceType: 'MedicationKnowledge',
            summary: {
              title: 'Label section comparison',
              excerpts: ['Dosage section conflicts with the contraindications section for renal impairment.'],
            },
            text: 'Dosage section conflicts with the contraindicated use in severe renal impairment.',
          },
        });
    }
  }
  return out;
}

export function sampleItems(count = 30): VerifiedWorkItem[] {
  return sampleRecords(count).map((r) => sealWorkItem(r.content, mark));
}

/** Every protected value the samples' raw records held. */
export function samplePlantedValues(): string[] {
  return people.flatMap((p) => [p.name, p.mrn, p.birth, p.phone]);
}

/** A plain classification item in a given queue's routing, for load tests: `n` notes that all route to cardiology. */
export function cardiologyItems(count: number, prefix = 'load'): VerifiedWorkItem[] {
  return Array.from({ length: count }, (_, i) =>
    sealWorkItem(
      {
        id: `${prefix}:ehr:DocumentReference/n-${i}`,
        institution: 'sample-inst',
        sourceKind: 'ehr',
        resourceType: 'DocumentReference',
        summary: { title: 'Note', excerpts: ['Chest pain at rest.'] },
        text: 'chest pain at rest',
      },
      mark,
    ),
  );
}
