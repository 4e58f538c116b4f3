import { TributaryError } from '../platform/errors';
import { dicomSummarySchema, type DicomSummary } from '../schemas/dicom-summary';
import {
  decodeText,
  encodingForCharset,
  findNode,
  readAscii,
  readInt,
  trimValue,
  type DicomNode,
} from './dicom-model';
import { readDicom } from './dicom-read';

/**
 * What the FHIR side (ImagingStudy) needs from one instance. Read from de-identified output, it carries the remapped
 * UIDs and the pseudonymous Patient ID, so FHIR references match the DICOM files.
 */
export function summarizeDicom(bytes: Buffer, where = 'DICOM instance'): DicomSummary {
  const parsed = readDicom(bytes, where);
  return summarizeNodes(parsed.nodes, parsed.transferSyntaxUid, where);
}

export function summarizeNodes(
  nodes: DicomNode[],
  transferSyntaxUid?: string,
  where = 'DICOM instance',
): DicomSummary {
  const encoding = encodingForCharset(readAscii(nodes, 'x00080005')) ?? 'latin1';
  const text = (tag: string): string | undefined => {
    const n = findNode(nodes, tag);
    if (!n?.bytes || n.bytes.length === 0) return undefined;
    const v = trimValue(decodeText(n.bytes, encoding), n.vr);
    return v === '' ? undefined : v;
  };
  const studyInstanceUid = readAscii(nodes, 'x0020000d');
  const seriesInstanceUid = readAscii(nodes, 'x0020000e');
  const sopInstanceUid = readAscii(nodes, 'x00080018');
  const sopClassUid = readAscii(nodes, 'x00080016');
  if (!studyInstanceUid || !seriesInstanceUid || !sopInstanceUid || !sopClassUid) {
    throw new TributaryError(`${where}: missing Study, Series or SOP Instance UID, or SOP Class UID`, {
      code: 'required',
      location: '(0020,000D)/(0020,000E)/(0008,0018)/(0008,0016)',
      nonRetryable: true,
    });
  }
  const summary: DicomSummary = {
    patientId: text('x00100020'),
    studyInstanceUid,
    studyDate: readAscii(nodes, 'x00080020'),
    studyTime: readAscii(nodes, 'x00080030'),
    studyDescription: text('x00081030'),
    accessionNumber: text('x00080050'),
    seriesInstanceUid,
    seriesNumber: readInt(nodes, 'x00200011'),
    seriesDescription: text('x0008103e'),
    modality: readAscii(nodes, 'x00080060'),
    bodyPartExamined: readAscii(nodes, 'x00180015'),
    sopInstanceUid,
    sopClassUid,
    instanceNumber: readInt(nodes, 'x00200013'),
    numberOfFrames: readInt(nodes, 'x00280008'),
    manufacturer: text('x00080070'),
    transferSyntaxUid,
  };
  // Drop absent keys so the object is what the schema describes, then check it once here.
  for (const k of Object.keys(summary) as (keyof DicomSummary)[])
    if (summary[k] === undefined) delete summary[k];
  return dicomSummarySchema.parse(summary);
}
