/**
 * `tributary synth serve`: each synthetic institution served on loopback the way a hospital would. FHIR R4 REST
 * (search with paging and _lastUpdated, read, Bulk Data $export with kick-off, polling and NDJSON files) for
 * institutions whose EHR is a FHIR API; every institution's files (HL7 feeds, HIS CSV, wearable exports, labels,
 * catalogs, DICOM) as downloads with a JSON index. Too many requests get 429 with Retry-After. With `smart`, the
 * FHIR APIs require SMART Backend Services bearer tokens (smart-server.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { createOperationOutcome, type IssueCode } from '../platform/errors';
import type { Institution } from '../schemas/institution';
import { registerDicomWebGateway } from './dicomweb-gateway';
import { registerSmartAuth, type SmartEvent, type SmartServerOptions } from './smart-server';
import { listFiles, readSynthInstitutions } from './verify';

export interface RateLimit {
  /** Sustained requests per second per institution. */
  requestsPerSecond: number;
  /** Requests allowed in a burst before throttling. */
  burst: number;
}

export interface SynthServerOptions {
  dir: string;
  port?: number;
  host?: string;
  /** Default: 50 requests/s, burst 100, per institution. `false` turns throttling off. */
  rateLimit?: RateLimit | false;
  /** How many polls of a Bulk Data status URL answer 202 (in progress) before the manifest: default 1. */
  exportPollsBeforeDone?: number;
  /** Largest page a search returns, whatever _count asks for. */
  maxPageSize?: number;
  /** Orthanc holding the studies (STOWed by orthanc-upload.ts): serves `/<inst>/dicom-web/` per institution (dicomweb-gateway.ts). */
  orthancUrl?: string;
  /** SMART Backend Services: every FHIR-API institution then requires a bearer token from its token endpoint. */
  smart?: SmartServerOptions;
}

export interface SynthServer {
  url: string;
  baseUrlFor(institutionId: string): string;
  filesUrlFor(institutionId: string): string;
  /** With `smart`: the token endpoint's and the bearer checks' decisions, and a way to invalidate all tokens. */
  smart?: { events: SmartEvent[]; revokeTokens(): void; tokenUrlFor(institutionId: string): string };
  close(): Promise<void>;
}

type Resource = {
  resourceType: string;
  id: string;
  meta?: { lastUpdated?: string };
  subject?: { reference?: string };
  [k: string]: unknown;
};

interface FhirStore {
  byType: Map<string, Resource[]>;
  byId: Map<string, Resource>;
}

interface ExportJob {
  institution: string;
  polls: number;
  transactionTime: string;
  request: string;
  /** The SMART client that started the export: only it may poll and download. */
  clientId?: string;
  files: { type: string; name: string; body: string; count: number }[];
}

const FHIR_JSON = 'application/fhir+json; charset=utf-8';

function loadStore(dir: string, inst: Institution): FhirStore {
  const byType = new Map<string, Resource[]>();
  const byId = new Map<string, Resource>();
  const folder = path.join(dir, inst.id, 'ehr', 'fhir');
  for (const f of listFiles(folder).filter((x) => x.endsWith('.ndjson'))) {
    const type = path.basename(f, '.ndjson');
    const list = fs
      .readFileSync(path.join(folder, f), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Resource);
    byType.set(type, list);
    for (const r of list) byId.set(`${r.resourceType}/${r.id}`, r);
  }
  return { byType, byId };
}

/** _lastUpdated / _since comparison against meta.lastUpdated (instants compared as times). */
function matchesDate(value: string | undefined, param: string): boolean {
  const m = /^(eq|ne|gt|lt|ge|le|sa|eb)?(.+)$/.exec(param);
  if (!m || value === undefined) return false;
  const prefix = m[1] ?? 'eq';
  const v = Date.parse(value);
  const bound = m[2];
  const start = Date.parse(bound.length === 10 ? `${bound}T00:00:00Z` : bound);
  if (Number.isNaN(start)) return false;
  const end = bound.length === 10 ? start + 86_400_000 : start + 1000;
  switch (prefix) {
    case 'gt':
    case 'sa':
      return v >= end;
    case 'ge':
      return v >= start;
    case 'lt':
    case 'eb':
      return v < start;
    case 'le':
      return v < end;
    case 'ne':
      return v < start || v >= end;
    default:
      return v >= start && v < end;
  }
}

function outcome(reply: FastifyReply, status: number, code: IssueCode, diagnostics: string): FastifyReply {
  return reply
    .code(status)
    .header('content-type', FHIR_JSON)
    .send(createOperationOutcome({ severity: 'error', code, diagnostics }));
}

const CONTENT_TYPES: Record<string, string> = {
  '.json': 'application/json; charset=utf-8',
  '.ndjson': 'application/fhir+ndjson',
  '.xml': 'application/xml; charset=utf-8',
  '.hl7': 'application/hl7-v2; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.dcm': 'application/dicom',
};

export async function startSynthServer(opts: SynthServerOptions): Promise<SynthServer> {
  const dir = path.resolve(opts.dir);
  const institutions = readSynthInstitutions(dir);
  const byId = new Map(institutions.map((i) => [i.id, i]));
  const stores = new Map<string, FhirStore>();
  for (const inst of institutions)
    if (inst.ehr?.format === 'fhir-api') stores.set(inst.id, loadStore(dir, inst));
  const limit = opts.rateLimit === undefined ? { requestsPerSecond: 50, burst: 100 } : opts.rateLimit;
  const buckets = new Map<string, { tokens: number; at: number }>();
  const jobs = new Map<string, ExportJob>();
  const pollsBeforeDone = opts.exportPollsBeforeDone ?? 1;
  const maxPage = opts.maxPageSize ?? 500;

  // close() ends every connection: a client that stopped reading a file early (a piece of a large file) leaves the
  // file's response unfinished on a kept-alive connection, which a plain close waited about a minute for.
  const app = Fastify({ logger: false, forceCloseConnections: true });
  const baseOf = (req: FastifyRequest) => `http://${req.headers.host ?? `${opts.host ?? '127.0.0.1'}`}`;

  app.addHook('onRequest', async (req, reply) => {
    const inst = req.url.split('/')[1];
    if (!limit || !byId.has(inst)) return;
    const now = performance.now();
    const b = buckets.get(inst) ?? { tokens: limit.burst, at: now };
    b.tokens = Math.min(limit.burst, b.tokens + ((now - b.at) / 1000) * limit.requestsPerSecond);
    b.at = now;
    if (b.tokens < 1) {
      buckets.set(inst, b);
      const retryAfter = Math.max(1, Math.ceil((1 - b.tokens) / limit.requestsPerSecond));
      reply.header('retry-after', String(retryAfter));
      return outcome(
        reply,
        429,
        'throttled',
        `rate limit of ${limit.requestsPerSecond} requests/s exceeded for this institution; retry after ${retryAfter}s`,
      );
    }
    b.tokens -= 1;
    buckets.set(inst, b);
  });

  const smart = opts.smart
    ? registerSmartAuth(app, {
        institutions,
        smart: opts.smart,
        typesOf: (id) => [...(stores.get(id)?.byType.keys() ?? [])],
      })
    : undefined;
  /** Under SMART, a job belongs to the client that started it (a job id alone must not be a credential). */
  const ownsJob = (req: FastifyRequest, job: ExportJob) =>
    !smart || smart.grantOf(req)?.clientId === job.clientId;

  app.get('/', async () => ({
    institutions: institutions.map((i) => ({
      id: i.id,
      ehr: i.ehr?.format,
      fhir: stores.has(i.id) ? `/${i.id}/fhir` : undefined,
      files: `/${i.id}/files/`,
    })),
  }));

  const storeOf = (
    req: FastifyRequest<{ Params: { inst: string } }>,
    reply: FastifyReply,
  ): FhirStore | undefined => {
    const store = stores.get(req.params.inst);
    if (!store) {
      outcome(
        reply,
        404,
        'not-found',
        byId.has(req.params.inst)
          ? 'this institution has no FHIR API (see its files/ index)'
          : 'unknown institution',
      );
      return undefined;
    }
    return store;
  };

  app.get<{ Params: { inst: string } }>('/:inst/fhir/metadata', async (req, reply) => {
    const store = storeOf(req, reply);
    if (!store) return reply;
    return reply.header('content-type', FHIR_JSON).send({
      resourceType: 'CapabilityStatement',
      status: 'active',
      date: '2025-06-30',
      kind: 'instance',
      fhirVersion: '4.0.1',
      format: ['json'],
      rest: [
        {
          mode: 'server',
          resource: [...store.byType.keys()].map((type) => ({
            type,
            interaction: [{ code: 'read' }, { code: 'search-type' }],
            searchParam: [
              { name: '_lastUpdated', type: 'date' },
              { name: '_count', type: 'number' },
              { name: '_id', type: 'token' },
              ...(type === 'Patient' ? [] : [{ name: 'patient', type: 'reference' }]),
            ],
          })),
          operation: [
            { name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export' },
          ],
          ...(smart ? { security: smart.capabilitySecurity(baseOf(req), req.params.inst) } : {}),
        },
      ],
    });
  });

  const kickOff = async (
    req: FastifyRequest<{ Params: { inst: string }; Querystring: Record<string, string | string[]> }>,
    reply: FastifyReply,
  ) => {
    const store = storeOf(req, reply);
    if (!store) return reply;
    if (!String(req.headers.prefer ?? '').includes('respond-async'))
      return outcome(reply, 400, 'invalid', 'Bulk Data kick-off requires the header Prefer: respond-async');
    const typeParam = [req.query._type ?? []].flat().join(',');
    const types = typeParam
      ? typeParam
          .split(',')
          .map((t) => t.trim())
          .filter(Boolean)
      : [...store.byType.keys()];
    const unknown = types.filter((t) => !store.byType.has(t));
    if (unknown.length)
      return outcome(
        reply,
        400,
        'not-supported',
        `_type names resource types this server does not hold (${unknown.length})`,
      );
    const since = [req.query._since ?? []].flat()[0];
    if (since !== undefined && Number.isNaN(Date.parse(since)))
      return outcome(reply, 400, 'invalid', '_since must be a FHIR instant');
    const jobId = crypto.randomUUID();
    const files = types.map((type) => {
      const list = (store.byType.get(type) ?? []).filter(
        (r) => since === undefined || matchesDate(r.meta?.lastUpdated, `ge${since}`),
      );
      return {
        type,
        name: `${type}.ndjson`,
        body: list.map((r) => JSON.stringify(r) + '\n').join(''),
        count: list.length,
      };
    });
    jobs.set(jobId, {
      institution: req.params.inst,
      polls: 0,
      transactionTime: new Date().toISOString(),
      request: `${baseOf(req)}${req.url}`,
      clientId: smart?.grantOf(req)?.clientId,
      files,
    });
    return reply
      .code(202)
      .header('content-location', `${baseOf(req)}/${req.params.inst}/fhir/$export-poll-status/${jobId}`)
      .send();
  };
  app.get('/:inst/fhir/$export', kickOff);
  app.get('/:inst/fhir/Patient/$export', kickOff);

  app.get<{ Params: { inst: string; job: string } }>(
    '/:inst/fhir/$export-poll-status/:job',
    async (req, reply) => {
      const job = jobs.get(req.params.job);
      if (!job || job.institution !== req.params.inst || !ownsJob(req, job))
        return outcome(reply, 404, 'not-found', 'no such export job');
      job.polls++;
      if (job.polls <= pollsBeforeDone) {
        return reply
          .code(202)
          .header('x-progress', `${Math.round((job.polls / (pollsBeforeDone + 1)) * 100)}% done`)
          .header('retry-after', '1')
          .send();
      }
      const base = `${baseOf(req)}/${req.params.inst}/fhir/bulk-files/${req.params.job}`;
      return reply
        .code(200)
        .header('content-type', 'application/json; charset=utf-8')
        .header('expires', new Date(Date.now() + 3_600_000).toUTCString())
        .send({
          transactionTime: job.transactionTime,
          request: job.request,
          requiresAccessToken: smart !== undefined,
          output: job.files
            .filter((f) => f.count > 0)
            .map((f) => ({ type: f.type, url: `${base}/${f.name}`, count: f.count })),
          error: [],
        });
    },
  );

  app.delete<{ Params: { inst: string; job: string } }>(
    '/:inst/fhir/$export-poll-status/:job',
    async (req, reply) => {
      const job = jobs.get(req.params.job);
      if (!job || job.institution !== req.params.inst || !ownsJob(req, job) || !jobs.delete(req.params.job))
        return outcome(reply, 404, 'not-found', 'no such export job');
      return reply.code(202).send();
    },
  );

  app.get<{ Params: { inst: string; job: string; file: string } }>(
    '/:inst/fhir/bulk-files/:job/:file',
    async (req, reply) => {
      const job = jobs.get(req.params.job);
      const file =
        job?.institution === req.params.inst && ownsJob(req, job)
          ? job.files.find((f) => f.name === req.params.file)
          : undefined;
      if (!file) return outcome(reply, 404, 'not-found', 'no such export file');
      // Range from a byte on (`bytes=N-`), as object stores and most servers of export files take it: a client can
      // read a large file a page at a time.
      const body = Buffer.from(file.body, 'utf8');
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      reply.header('content-type', 'application/fhir+ndjson').header('accept-ranges', 'bytes');
      if (!range) return reply.send(body);
      const from = Number(range[1]);
      if (from >= body.length)
        return reply.code(416).header('content-range', `bytes */${body.length}`).send();
      return reply
        .code(206)
        .header('content-range', `bytes ${from}-${body.length - 1}/${body.length}`)
        .send(body.subarray(from));
    },
  );

  app.get<{ Params: { inst: string; type: string; id: string } }>(
    '/:inst/fhir/:type/:id',
    async (req, reply) => {
      const store = storeOf(req, reply);
      if (!store) return reply;
      const r = store.byId.get(`${req.params.type}/${req.params.id}`);
      if (!r) return outcome(reply, 404, 'not-found', `${req.params.type} not found`);
      return reply.header('content-type', FHIR_JSON).send(r);
    },
  );

  app.get<{ Params: { inst: string; type: string }; Querystring: Record<string, string | string[]> }>(
    '/:inst/fhir/:type',
    async (req, reply) => {
      const store = storeOf(req, reply);
      if (!store) return reply;
      const list = store.byType.get(req.params.type);
      if (!list) return outcome(reply, 404, 'not-supported', 'resource type not held by this server');
      const q = req.query;
      const supported = new Set([
        '_count',
        '_lastUpdated',
        '_id',
        'patient',
        'subject',
        '_getpagesoffset',
        '_format',
      ]);
      const unsupported = Object.keys(q).filter((k) => !supported.has(k));
      if (unsupported.length)
        return outcome(
          reply,
          400,
          'not-supported',
          `unsupported search parameter(s): ${unsupported.join(', ')}`,
        );
      const count = Math.min(maxPage, Math.max(1, Number([q._count ?? '50'].flat()[0]) || 50));
      const offset = Math.max(0, Number([q._getpagesoffset ?? '0'].flat()[0]) || 0);
      const lastUpdated = [q._lastUpdated ?? []].flat();
      const ids = [q._id ?? []].flat().flatMap((s) => s.split(','));
      const patient = [q.patient ?? q.subject ?? []].flat()[0];
      const patientRef =
        patient === undefined ? undefined : patient.includes('/') ? patient : `Patient/${patient}`;
      const matches = list.filter(
        (r) =>
          lastUpdated.every((p) => matchesDate(r.meta?.lastUpdated, p)) &&
          (ids.length === 0 || ids.includes(r.id)) &&
          (patientRef === undefined ||
            (r.resourceType === 'Patient'
              ? `Patient/${r.id}` === patientRef
              : r.subject?.reference === patientRef)),
      );
      const page = matches.slice(offset, offset + count);
      const self = new URL(`${baseOf(req)}${req.url}`);
      const link = [{ relation: 'self', url: self.toString() }];
      if (offset + count < matches.length) {
        const next = new URL(self);
        next.searchParams.set('_getpagesoffset', String(offset + count));
        next.searchParams.set('_count', String(count));
        link.push({ relation: 'next', url: next.toString() });
      }
      if (offset > 0) {
        const prev = new URL(self);
        prev.searchParams.set('_getpagesoffset', String(Math.max(0, offset - count)));
        link.push({ relation: 'previous', url: prev.toString() });
      }
      const base = `${baseOf(req)}/${req.params.inst}/fhir`;
      return reply.header('content-type', FHIR_JSON).send({
        resourceType: 'Bundle',
        type: 'searchset',
        total: matches.length,
        link,
        entry: page.map((r) => ({
          fullUrl: `${base}/${r.resourceType}/${r.id}`,
          resource: r,
          search: { mode: 'match' },
        })),
      });
    },
  );

  app.get<{ Params: { inst: string } }>('/:inst/files/', async (req, reply) => {
    const inst = byId.get(req.params.inst);
    if (!inst) return outcome(reply, 404, 'not-found', 'unknown institution');
    const folder = path.join(dir, inst.id);
    const files = listFiles(folder).map((f) => ({
      source: f.split('/')[0],
      path: f,
      size: fs.statSync(path.join(folder, f)).size,
      url: `${baseOf(req)}/${inst.id}/files/${f}`,
    }));
    return {
      institution: inst.id,
      formats: {
        ehr: inst.ehr?.format,
        wearable: inst.wearable?.format,
        druglabel: inst.druglabel?.format,
        insurance: inst.insurance?.format,
      },
      files,
    };
  });

  app.get<{ Params: { inst: string; '*': string } }>('/:inst/files/*', async (req, reply) => {
    const inst = byId.get(req.params.inst);
    if (!inst) return outcome(reply, 404, 'not-found', 'unknown institution');
    const folder = path.join(dir, inst.id);
    const abs = path.resolve(folder, req.params['*']);
    if (!abs.startsWith(folder + path.sep) || !fs.existsSync(abs) || !fs.statSync(abs).isFile())
      return outcome(reply, 404, 'not-found', 'no such file');
    return reply
      .header('content-type', CONTENT_TYPES[path.extname(abs)] ?? 'application/octet-stream')
      .send(fs.createReadStream(abs));
  });

  if (opts.orthancUrl) registerDicomWebGateway(app, { dir, institutions, orthancUrl: opts.orthancUrl });

  const address = await app.listen({ port: opts.port ?? 0, host: opts.host ?? '127.0.0.1' });
  const url = address.replace('localhost', '127.0.0.1');
  return {
    url,
    baseUrlFor: (id: string) => `${url}/${id}/fhir`,
    filesUrlFor: (id: string) => `${url}/${id}/files/`,
    smart: smart
      ? {
          events: smart.events,
          revokeTokens: smart.revokeTokens,
          tokenUrlFor: (id: string) => `${url}/${id}/auth/token`,
        }
      : undefined,
    close: async () => {
      await app.close();
    },
  };
}
