/**
 * Each synthetic institution's PACS as its own DICOMweb root, `<synth>/<inst>/dicom-web/`, backed by the shared
 * Orthanc the studies were STOWed into. A hospital's PACS answers only for its own studies; the shared Orthanc holds
 * every institution's (and earlier datasets' of the same institutions), and Orthanc 1.10's QIDO cannot match
 * InstitutionName values with spaces or non-Latin-1 characters. So this gateway knows the institution's studies
 * from the DICOM files it serves, forwards QIDO/WADO to Orthanc, and answers only for those studies.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { readDicom } from '../imaging/dicom-read';
import { readAscii } from '../imaging/dicom-model';
import type { Institution } from '../schemas/institution';
import { listFiles } from './verify';

export interface DicomWebGatewayOptions {
  dir: string;
  institutions: Institution[];
  /** Orthanc's base URL; DICOMweb under `/dicom-web`. */
  orthancUrl: string;
}

const STUDY_UID = '0020000D';
/** StudyInstanceUIDs per QIDO request to Orthanc (keeps the URL short). */
const UID_CHUNK = 40;

/** StudyInstanceUIDs of an institution's studies: one file read per study folder. */
function studiesOf(dir: string, inst: Institution): Set<string> {
  const imaging = path.join(dir, inst.id, 'imaging');
  const firstOfStudy = new Map<string, string>();
  for (const f of listFiles(imaging).filter((x) => x.endsWith('.dcm'))) {
    const study = f.split('/')[0];
    if (!firstOfStudy.has(study)) firstOfStudy.set(study, f);
  }
  const uids = new Set<string>();
  for (const f of firstOfStudy.values()) {
    const uid = readAscii(
      readDicom(fs.readFileSync(path.join(imaging, f)), `${inst.id}/imaging/${f}`).nodes,
      'x0020000d',
    );
    if (uid) uids.add(uid);
  }
  return uids;
}

export function registerDicomWebGateway(app: FastifyInstance, options: DicomWebGatewayOptions): void {
  const upstream = `${options.orthancUrl.replace(/\/+$/, '')}/dicom-web`;
  const studies = new Map<string, Set<string>>();
  const studiesFor = (id: string) => {
    let s = studies.get(id);
    if (!s) {
      const inst = options.institutions.find((i) => i.id === id);
      if (!inst) return undefined;
      studies.set(id, (s = studiesOf(options.dir, inst)));
    }
    return s;
  };

  const notFound = (reply: FastifyReply, what: string) =>
    reply.code(404).header('content-type', 'application/json').send({ error: what });

  async function forward(
    req: FastifyRequest,
    reply: FastifyReply,
    upstreamPath: string,
    query: URLSearchParams,
  ): Promise<{ status: number; body: Buffer; type: string }> {
    const qs = query.toString();
    const res = await fetch(`${upstream}${upstreamPath}${qs ? `?${qs}` : ''}`, {
      headers: { accept: String(req.headers.accept ?? '*/*') },
    });
    return {
      status: res.status,
      body: Buffer.from(await res.arrayBuffer()),
      type: res.headers.get('content-type') ?? 'application/octet-stream',
    };
  }

  // QIDO studies: asked of Orthanc for this institution's studies only (UID list matching, in chunks: Orthanc
  // computes every study it answers for, ~12 ms each), other matching keys passed on; limit/offset applied here.
  app.get<{ Params: { inst: string } }>('/:inst/dicom-web/studies', async (req, reply) => {
    const own = studiesFor(req.params.inst);
    if (!own) return notFound(reply, 'unknown institution');
    const query = new URLSearchParams(req.url.split('?')[1] ?? '');
    const limit = Number(query.get('limit') ?? NaN);
    const offset = Number(query.get('offset') ?? 0) || 0;
    const asked = query.get('StudyInstanceUID') ?? query.get('0020000D');
    for (const k of ['limit', 'offset', 'StudyInstanceUID', '0020000D']) query.delete(k);
    const wanted = [...own].filter((uid) => !asked || asked.split(',').includes(uid)).sort();
    const mine: unknown[] = [];
    for (let i = 0; i < wanted.length; i += UID_CHUNK) {
      const chunk = new URLSearchParams(query);
      chunk.set('StudyInstanceUID', wanted.slice(i, i + UID_CHUNK).join(','));
      const res = await forward(req, reply, '/studies', chunk);
      if (res.status !== 200) return reply.code(res.status).header('content-type', res.type).send(res.body);
      const answer = (
        res.body.toString('utf8').trim() ? JSON.parse(res.body.toString('utf8')) : []
      ) as Record<string, { Value?: unknown[] }>[];
      mine.push(...answer.filter((s) => own.has(String(s[STUDY_UID]?.Value?.[0] ?? ''))));
    }
    const page = mine.slice(offset, Number.isFinite(limit) ? offset + limit : undefined);
    return reply.header('content-type', 'application/dicom+json').send(JSON.stringify(page));
  });

  // Anything under one study (QIDO series/instances, WADO retrieve, metadata): only this institution's studies.
  app.get<{ Params: { inst: string; study: string; '*': string } }>(
    '/:inst/dicom-web/studies/:study/*',
    async (req, reply) => {
      const own = studiesFor(req.params.inst);
      if (!own) return notFound(reply, 'unknown institution');
      if (!own.has(req.params.study)) return notFound(reply, 'no such study in this PACS');
      const rest = req.params['*'];
      const res = await forward(
        req,
        reply,
        `/studies/${encodeURIComponent(req.params.study)}${rest ? `/${rest}` : ''}`,
        new URLSearchParams(req.url.split('?')[1] ?? ''),
      );
      return reply.code(res.status).header('content-type', res.type).send(res.body);
    },
  );
  app.get<{ Params: { inst: string; study: string } }>(
    '/:inst/dicom-web/studies/:study',
    async (req, reply) => {
      const own = studiesFor(req.params.inst);
      if (!own) return notFound(reply, 'unknown institution');
      if (!own.has(req.params.study)) return notFound(reply, 'no such study in this PACS');
      const res = await forward(
        req,
        reply,
        `/studies/${encodeURIComponent(req.params.study)}`,
        new URLSearchParams(),
      );
      return reply.code(res.status).header('content-type', res.type).send(res.body);
    },
  );
}
