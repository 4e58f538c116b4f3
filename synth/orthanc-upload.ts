/** Put the synthetic institutions' studies into a real PACS (Orthanc) with DICOMweb STOW-RS, one request per study. */
import fs from 'node:fs';
import path from 'node:path';
import { TributaryError, toError } from '../platform/errors';
import { listFiles, readSynthInstitutions } from './verify';

export interface UploadStudiesInput {
  dir: string;
  /** Orthanc's base URL (DICOMweb under /dicom-web). */
  orthancUrl: string;
  /** Only these institutions (default: all in the output). */
  institutions?: string[];
}

export interface UploadStudiesResult {
  studies: number;
  instances: number;
  byInstitution: Record<string, { studies: number; instances: number }>;
}

export async function uploadStudiesToOrthanc(input: UploadStudiesInput): Promise<UploadStudiesResult> {
  const base = input.orthancUrl.replace(/\/$/, '');
  const chosen = readSynthInstitutions(input.dir).filter(
    (i) => !input.institutions || input.institutions.includes(i.id),
  );
  const result: UploadStudiesResult = { studies: 0, instances: 0, byInstitution: {} };
  for (const inst of chosen) {
    const imaging = path.join(input.dir, inst.id, 'imaging');
    const byStudy = new Map<string, string[]>();
    for (const f of listFiles(imaging).filter((x) => x.endsWith('.dcm'))) {
      const study = f.split('/')[0];
      byStudy.set(study, [...(byStudy.get(study) ?? []), f]);
    }
    const counts = { studies: 0, instances: 0 };
    for (const [study, files] of byStudy) {
      const boundary = `tributary-synth-${inst.id}-${study}`;
      const parts: Buffer[] = [];
      for (const f of files) {
        parts.push(
          Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
          fs.readFileSync(path.join(imaging, f)),
          Buffer.from('\r\n'),
        );
      }
      parts.push(Buffer.from(`--${boundary}--\r\n`));
      const where = `${inst.id}/imaging/${study}`;
      let res: Response;
      try {
        res = await fetch(`${base}/dicom-web/studies`, {
          method: 'POST',
          headers: {
            'Content-Type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
            Accept: 'application/dicom+json',
          },
          body: Buffer.concat(parts),
        });
      } catch (e) {
        throw new TributaryError(`STOW-RS to Orthanc failed for ${where}: ${toError(e).message}`, {
          code: 'transient',
          location: where,
          cause: e,
        });
      }
      const body = (await res.json().catch(() => ({}))) as Record<string, { Value?: unknown[] }>;
      const failed = body['00081198']?.Value?.length ?? 0;
      const stored = body['00081199']?.Value?.length ?? 0;
      if (res.status !== 200 || failed > 0 || stored !== files.length) {
        throw new TributaryError(
          `STOW-RS to Orthanc for ${where}: HTTP ${res.status}, ${stored} of ${files.length} stored, ${failed} failed`,
          {
            code: res.status >= 500 ? 'transient' : 'processing',
            location: where,
          },
        );
      }
      counts.studies++;
      counts.instances += files.length;
    }
    result.byInstitution[inst.id] = counts;
    result.studies += counts.studies;
    result.instances += counts.instances;
  }
  return result;
}
