import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createKeyService } from '../../deid/key-service';
import { deidentifyDicom } from '../../imaging/dicom-deid';
import { summarizeDicom } from '../../imaging/dicom-summary';
import { createDicomWebClient, jsonValue } from '../../imaging/dicomweb';

/**
 * Pull from a PACS (QIDO-RS, WADO-RS), de-identify, push to a research PACS (STOW-RS), against the real Orthanc of
 * the local stack (ORTHANC_URL, set by tests/integration/global-setup.ts). The one Orthanc plays both PACS.
 */
const SAMPLES = path.resolve(process.cwd(), '../shared/data/dicom');
const client = () => createDicomWebClient(`${process.env.ORTHANC_URL!.replace(/\/$/, '')}/dicom-web`);

describe('DICOMweb pull → de-identify → push (Orthanc)', () => {
  it('round-trips CT and MR instances with consistent remapped UIDs and the pseudonym', async () => {
    const pacs = client();
    const originals = ['CT_small.dcm', 'MR_small.dcm'].map((f) => fs.readFileSync(path.join(SAMPLES, f)));
    const seeded = await pacs.storeInstances(originals);
    expect(seeded.failed).toEqual([]);
    expect(seeded.stored).toHaveLength(2);

    const keyService = createKeyService({ key: Buffer.alloc(32, 3), keyId: 'it' });
    for (const original of originals) {
      const source = summarizeDicom(original);
      const studies = await pacs.searchStudies({ StudyInstanceUID: source.studyInstanceUid });
      expect(studies).toHaveLength(1);
      const pulled = await pacs.retrieveInstances(source.studyInstanceUid);
      expect(pulled.length).toBeGreaterThanOrEqual(1);
      const mine = pulled
        .map((b) => summarizeDicom(b))
        .findIndex((s) => s.sopInstanceUid === source.sopInstanceUid);
      expect(mine).toBeGreaterThanOrEqual(0);

      const r = deidentifyDicom(pulled[mine], { keyService, institution: 'riverside-general' });
      if (r.status !== 'ok') throw new Error(`expected ok, got ${r.rule}`);
      const pushed = await pacs.storeInstances([r.bytes]);
      expect(pushed.stored).toEqual([keyService.uid(source.sopInstanceUid)]);

      const found = await pacs.searchInstances(keyService.uid(source.studyInstanceUid));
      expect(found.map((i) => jsonValue(i, '00080018'))).toContain(r.summary.sopInstanceUid);
      const back = await pacs.retrieveInstance(
        r.summary.studyInstanceUid,
        r.summary.seriesInstanceUid,
        r.summary.sopInstanceUid,
      );
      const summary = summarizeDicom(back);
      expect(summary.patientId).toBe(r.summary.patientId);
      expect(summary.seriesInstanceUid).toBe(keyService.uid(source.seriesInstanceUid));
    }
  });

  it('reports a missing study as not-found', async () => {
    await expect(client().retrieveInstances('2.25.1')).rejects.toMatchObject({ code: 'not-found' });
  });
});
