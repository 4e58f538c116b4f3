/**
 * DicomSummary (one per instance, produced by imaging/ from file headers) -> one ImagingStudy per study with its
 * series and instances, referencing the Patient stable id the EHR mappers use for the same institution + patient id
 * (for de-identified instances, the de-identified Patient's id, which their summaries carry).
 * One summary is one record; a study's instances are kept or rejected together.
 */
import { PSEUDONYM_SYSTEM } from '../../deid/key-service';
import type { DicomSummary } from '../../schemas/dicom-summary';
import { patientStableId, stableId } from '../ids';
import { RecordError, RecordSink } from '../sink';
import { localDateTime } from '../time';
import type { FhirResource, MapContext, MapResult } from '../types';

type Json = Record<string, unknown>;

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const SNOMED = 'http://snomed.info/sct';
/** DICOM Body Part Examined (PS3.16 Annex L) -> SNOMED CT, for the common values. */
const BODY_PART: Record<string, [string, string]> = {
  HEAD: ['69536005', 'Head'],
  BRAIN: ['12738006', 'Brain'],
  NECK: ['45048000', 'Neck'],
  CHEST: ['51185008', 'Thorax'],
  ABDOMEN: ['113345001', 'Abdomen'],
  PELVIS: ['12921003', 'Pelvis'],
  SPINE: ['421060004', 'Spine'],
  CSPINE: ['122494005', 'Cervical spine'],
  TSPINE: ['122495006', 'Thoracic spine'],
  LSPINE: ['122496007', 'Lumbar spine'],
  KNEE: ['72696002', 'Knee'],
  SHOULDER: ['16982005', 'Shoulder'],
  HAND: ['85562004', 'Hand'],
  FOOT: ['56459004', 'Foot'],
  HEART: ['80891009', 'Heart'],
  BREAST: ['76752008', 'Breast'],
  LIVER: ['10200004', 'Liver'],
  KIDNEY: ['64033007', 'Kidney'],
  EXTREMITY: ['66019005', 'Limb'],
  ANKLE: ['344001', 'Ankle'],
  HIP: ['24136001', 'Hip'],
  SKULL: ['89546000', 'Skull'],
  CHESTABDOMEN: ['416550000', 'Chest and abdomen'],
  WHOLEBODY: ['38266002', 'Entire body'],
};
const DA = /^(\d{4})(\d{2})(\d{2})$/;
const TM = /^(\d{2})(\d{2})?(\d{2})?/;

function started(s: DicomSummary, tz: string): string | undefined {
  const d = s.studyDate ? DA.exec(s.studyDate.trim()) : null;
  if (!d) return undefined;
  const t = s.studyTime ? TM.exec(s.studyTime.trim()) : null;
  if (!t) return `${d[1]}-${d[2]}-${d[3]}`;
  return localDateTime(
    Number(d[1]),
    Number(d[2]),
    Number(d[3]),
    Number(t[1]),
    Number(t[2] ?? 0),
    Number(t[3] ?? 0),
    tz,
  );
}

export function mapImagingStudies(summaries: DicomSummary[], ctx: MapContext): MapResult {
  const sink = new RecordSink(ctx);
  const studies = new Map<string, { index: number; s: DicomSummary }[]>();
  summaries.forEach((s, index) => {
    if (!s || typeof s.studyInstanceUid !== 'string' || !s.studyInstanceUid) {
      sink.reject(`summary[${index}]`, 'studyInstanceUid is missing', 'required');
      return;
    }
    const list = studies.get(s.studyInstanceUid) ?? [];
    list.push({ index, s });
    studies.set(s.studyInstanceUid, list);
  });
  const tz = ctx.timezone ?? 'UTC';
  for (const [studyUid, members] of studies) {
    const where = `summary[${members.map((m) => m.index).join(',')}]`;
    sink.record(where, () => [buildStudy(studyUid, members, ctx, tz)], members.length);
  }
  return sink.result;
}

/**
 * ImagingStudy.subject. A de-identified study whose patient the EHR published (linked through the patient index)
 * names that Patient. One whose patient no EHR record names (imaging only, or no Patient ID) has no Patient resource
 * to name: a literal reference would dangle (a FHIR server that checks references refuses the study), so it names the
 * person by their pseudonym, a logical reference. A later Patient matches it only if the EHR links that person by
 * institution + MRN too (no national ID; see deid/README.md, Linkage). A raw study names the EHR's stable id.
 */
function subjectOf(
  patientResourceId: string | undefined,
  linkedBy: DicomSummary['linkedBy'],
  patientId: string,
  ctx: MapContext,
): Record<string, unknown> {
  if (patientResourceId === undefined)
    return { reference: `Patient/${patientStableId(ctx.institution, patientId)}` };
  if (linkedBy === 'patient-index') return { reference: `Patient/${patientResourceId}` };
  return { type: 'Patient', identifier: { system: PSEUDONYM_SYSTEM, value: patientId } };
}

function buildStudy(
  studyUid: string,
  members: { index: number; s: DicomSummary }[],
  ctx: MapContext,
  tz: string,
): FhirResource {
  const first = members[0].s;
  const patientIds = new Set(members.map((m) => m.s.patientId?.trim()).filter(Boolean));
  if (patientIds.size === 0)
    throw new RecordError('no instance of the study has a PatientID (0010,0020)', '(0010,0020)', 'required');
  if (patientIds.size > 1)
    throw new RecordError('instances of one study name different patients', '(0010,0020)', 'invariant');
  // De-identified instances carry the id of their Patient as the EHR published it; raw ones, the MRN it derives from.
  const resourceIds = new Set(members.map((m) => m.s.patientResourceId));
  if (resourceIds.size > 1)
    throw new RecordError('instances of one study name different patients', '(0010,0020)', 'invariant');
  const patientResourceId = [...resourceIds][0];
  const linkedBy = first.linkedBy;
  const series = new Map<string, { s: DicomSummary; instances: DicomSummary[] }>();
  for (const { index, s } of members) {
    if (!s.seriesInstanceUid)
      throw new RecordError('SeriesInstanceUID (0020,000E) is missing', `summary[${index}]`, 'required');
    if (!s.modality)
      throw new RecordError('Modality (0008,0060) is missing', `summary[${index}]`, 'required');
    const entry = series.get(s.seriesInstanceUid) ?? { s, instances: [] };
    entry.instances.push(s);
    series.set(s.seriesInstanceUid, entry);
  }
  const modalities = [...new Set(members.map((m) => m.s.modality as string))];
  const study: FhirResource = {
    resourceType: 'ImagingStudy',
    id: stableId(ctx.institution, 'ImagingStudy', studyUid),
    identifier: [
      { system: 'urn:dicom:uid', value: `urn:oid:${studyUid}` },
      ...(first.accessionNumber
        ? [
            {
              type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'ACSN' }] },
              system: `urn:tributary:${ctx.institution}:accession`,
              value: first.accessionNumber,
            },
          ]
        : []),
    ],
    status: 'available',
    modality: modalities.map((code) => ({ system: DCM, code })),
    subject: subjectOf(patientResourceId, linkedBy, [...patientIds][0] as string, ctx),
    numberOfSeries: series.size,
    numberOfInstances: members.length,
  };
  const when = started(first, tz);
  if (when) study.started = when;
  if (first.studyDescription) study.description = first.studyDescription;
  study.series = [...series.entries()].map(([uid, { s, instances }]) => {
    const se: Json = {
      uid,
      modality: { system: DCM, code: s.modality },
      numberOfInstances: instances.length,
    };
    if (s.seriesNumber !== undefined) se.number = s.seriesNumber;
    if (s.seriesDescription) se.description = s.seriesDescription;
    const part = s.bodyPartExamined?.trim().toUpperCase();
    if (part) {
      const sct = BODY_PART[part.replace(/\s+/g, '')];
      se.bodySite = sct ? { system: SNOMED, code: sct[0], display: sct[1] } : { display: part };
    }
    se.instance = instances.map((i) => ({
      uid: i.sopInstanceUid,
      sopClass: { system: 'urn:ietf:rfc:3986', code: `urn:oid:${i.sopClassUid}` },
      ...(i.instanceNumber !== undefined ? { number: i.instanceNumber } : {}),
    }));
    return se;
  });
  return study;
}
