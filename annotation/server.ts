import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { formatZodError } from '../platform/config';
import { TributaryError, createOperationOutcome, toError, type IssueCode } from '../platform/errors';
import { log } from '../platform/log';
import { workItemIdSchema } from '../schemas/work-item';
import { exportFhirBundle, exportFormats, exportJsonl, exportLabelStudio } from './export';
import { queueIdSchema } from './routing';
import { roleSchema, userIdSchema, type QueueStore, type Role, type User } from './store';

/**
 * The annotation HTTP API and the annotator page. Every /api route authenticates a bearer token, checks the
 * caller's role and queue assignment, and parses params, query and body with zod before touching the store.
 * The route table below is also the OpenAPI document served at /openapi.json.
 */

export interface AnnotationServerOptions {
  store: QueueStore;
  port?: number;
  host?: string;
  /** Where work items' preview refs resolve (default ./data/previews). */
  previewRoot?: string;
  /** Largest accepted request body in bytes (default 64 KiB). */
  bodyLimit?: number;
}

export interface AnnotationServer {
  url: string;
  close(): Promise<void>;
}

const queueParam = z.strictObject({ queue: queueIdSchema });
const itemParam = z.strictObject({ queue: queueIdSchema, itemId: workItemIdSchema });
const previewParam = itemParam.extend({ index: z.coerce.number().int().min(0).max(49) });
const assignmentParam = z.strictObject({ id: z.string().regex(/^\d{1,18}$/, 'a numeric assignment id') });
const submitBody = z.strictObject({ labels: z.unknown() });
const skipBody = z.strictObject({ reason: z.string().trim().min(1).max(500) });
const reviewBody = z.strictObject({
  decision: z.enum(['accept', 'reject', 'requeue']),
  note: z.string().max(2000).optional(),
});
const goldBody = z.strictObject({ labels: z.unknown() });
const exportQuery = z.strictObject({ format: z.enum(exportFormats).default('jsonl') });
const addUserBody = z.strictObject({
  id: userIdSchema,
  role: roleSchema,
  queues: z.array(queueIdSchema).max(100).default([]),
});
const emptyQuery = z.strictObject({});

interface RouteContext<P, Q, B> {
  user: User;
  params: P;
  query: Q;
  body: B;
  reply: FastifyReply;
}

interface RouteSpec<P = any, Q = any, B = any> {
  method: 'GET' | 'POST' | 'PUT';
  url: string;
  summary: string;
  roles: Role[];
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  produces?: string;
  handler: (ctx: RouteContext<P, Q, B>) => Promise<unknown>;
}

const all: Role[] = ['admin', 'reviewer', 'annotator'];
const staff: Role[] = ['admin', 'reviewer'];

function routeTable(store: QueueStore, previewRoot: string): RouteSpec[] {
  const route = <P, Q, B>(r: RouteSpec<P, Q, B>) => r as RouteSpec;
  return [
    route({
      method: 'GET',
      url: '/api/me',
      summary: 'The caller: id, role, assigned queues',
      roles: all,
      handler: async ({ user }) => ({ user }),
    }),
    route({
      method: 'GET',
      url: '/api/queues',
      summary: 'Queues the caller may work on, with open/review/done counts',
      roles: all,
      handler: async ({ user }) => ({ queues: await store.listQueues(user) }),
    }),
    route({
      method: 'POST',
      url: '/api/queues/:queue/claim',
      summary: 'Claim the next item under a lease (204 when none is left for you)',
      roles: all,
      params: queueParam,
      handler: async ({ user, params, reply }) => {
        const claim = await store.claimNext(user, params.queue);
        if (!claim) return reply.code(204).send();
        return { claim };
      },
    }),
    route({
      method: 'GET',
      url: '/api/queues/:queue/items/:itemId',
      summary: 'An item as the annotator sees it (annotators: only items they claimed)',
      roles: all,
      params: itemParam,
      handler: async ({ user, params }) => {
        const item = await store.viewItem(user, params.queue, params.itemId);
        if (!item) throw notFound('item');
        return { item };
      },
    }),
    route({
      method: 'GET',
      url: '/api/queues/:queue/items/:itemId/labels',
      summary: "Submitted labels on an item: annotators get only their own (blind); reviewers get everyone's",
      roles: all,
      params: itemParam,
      handler: async ({ user, params }) => {
        await store.viewItem(user, params.queue, params.itemId);
        return { labels: await store.labels(user, params.queue, params.itemId) };
      },
    }),
    route({
      method: 'GET',
      url: '/api/queues/:queue/items/:itemId/previews/:index',
      summary: 'A PNG preview of the item (de-identified pixels)',
      roles: all,
      params: previewParam,
      produces: 'image/png',
      handler: async ({ user, params, reply }) => {
        if (!(await store.viewItem(user, params.queue, params.itemId))) throw notFound('item');
        const ref = await store.previewRef(params.queue, params.itemId, params.index);
        if (!ref) throw notFound('preview');
        const file = path.resolve(previewRoot, ref);
        if (!file.startsWith(path.resolve(previewRoot) + path.sep)) throw notFound('preview');
        let png: Buffer;
        try {
          png = await readFile(file);
        } catch {
          throw notFound('preview file');
        }
        return reply.type('image/png').send(png);
      },
    }),
    route({
      method: 'POST',
      url: '/api/assignments/:id/submit',
      summary: "Submit labels for a claimed item (schema per the queue's task type)",
      roles: all,
      params: assignmentParam,
      body: submitBody,
      handler: async ({ user, params, body }) => ({
        result: await store.submit(user, params.id, body.labels),
      }),
    }),
    route({
      method: 'POST',
      url: '/api/assignments/:id/skip',
      summary: 'Skip a claimed item with a reason (it is not offered to you again)',
      roles: all,
      params: assignmentParam,
      body: skipBody,
      handler: async ({ user, params, body }) => {
        await store.skip(user, params.id, body.reason);
        return { ok: true };
      },
    }),
    route({
      method: 'POST',
      url: '/api/assignments/:id/release',
      summary: 'Give a claimed item back to the pool',
      roles: all,
      params: assignmentParam,
      handler: async ({ user, params }) => {
        await store.release(user, params.id);
        return { ok: true };
      },
    }),
    route({
      method: 'GET',
      url: '/api/stats/me',
      summary: "The caller's own statistics per queue and overall",
      roles: all,
      handler: async ({ user }) => {
        const queues = user.role === 'annotator' ? user.queues : (await store.listQueues()).map((q) => q.id);
        const perQueue: Record<string, unknown> = {};
        for (const q of queues) perQueue[q] = (await store.annotatorStats(q, user.id))[0] ?? null;
        return { overall: (await store.annotatorStats(undefined, user.id))[0] ?? null, queues: perQueue };
      },
    }),
    route({
      method: 'GET',
      url: '/api/queues/:queue/agreement',
      summary:
        "Agreement on the queue: Cohen's kappa per annotator pair, Fleiss' kappa, Krippendorff's alpha (nominal)",
      roles: staff,
      params: queueParam,
      handler: async ({ params }) => ({ agreement: await store.agreement(params.queue) }),
    }),
    route({
      method: 'GET',
      url: '/api/queues/:queue/stats',
      summary: 'Per-annotator statistics: counts, median time, gold accuracy, agreement with co-annotators',
      roles: staff,
      params: queueParam,
      handler: async ({ params }) => ({ annotators: await store.annotatorStats(params.queue) }),
    }),
    route({
      method: 'GET',
      url: '/api/queues/:queue/review',
      summary: 'Items waiting for review, with all labels of their latest round',
      roles: staff,
      params: queueParam,
      handler: async ({ params }) => ({ items: await store.reviewList(params.queue) }),
    }),
    route({
      method: 'POST',
      url: '/api/queues/:queue/items/:itemId/review',
      summary: 'Accept, reject, or requeue (a new round of annotation) an item waiting for review',
      roles: staff,
      params: itemParam,
      body: reviewBody,
      handler: async ({ user, params, body }) => ({
        result: await store.review(user, params.queue, params.itemId, body.decision, body.note),
      }),
    }),
    route({
      method: 'PUT',
      url: '/api/queues/:queue/items/:itemId/gold',
      summary: "Set an item's reference (gold) labels; annotators' submissions on it are then scored",
      roles: staff,
      params: itemParam,
      body: goldBody,
      handler: async ({ params, body }) => {
        await store.setGold(params.queue, params.itemId, body.labels);
        return { ok: true };
      },
    }),
    route({
      method: 'GET',
      url: '/api/queues/:queue/export',
      summary:
        'Export labels: jsonl, fhir (Bundle of Observation/DiagnosticReport, derivedFrom the source), label-studio',
      roles: staff,
      params: queueParam,
      query: exportQuery,
      handler: async ({ params, query, reply }) => {
        const rows = await store.exportRows(params.queue);
        if (query.format === 'jsonl') return reply.type('application/x-ndjson').send(exportJsonl(rows));
        if (query.format === 'fhir')
          return reply.type('application/fhir+json').send(JSON.stringify(exportFhirBundle(rows)));
        return exportLabelStudio(
          rows,
          (row, i) => `/api/queues/${row.queue}/items/${encodeURIComponent(row.itemId)}/previews/${i}`,
        );
      },
    }),
    route({
      method: 'POST',
      url: '/api/users',
      summary: 'Create or re-key a user; returns their token once',
      roles: ['admin'],
      body: addUserBody,
      handler: async ({ body, reply }) => {
        const created = await store.addUser(body);
        reply.code(201);
        return created;
      },
    }),
  ];
}

function notFound(what: string): TributaryError {
  return new TributaryError(`${what} not found`, { code: 'not-found', nonRetryable: true });
}

function parsePart<T>(schema: z.ZodType<T> | undefined, value: unknown, where: string): T {
  if (!schema) return undefined as T;
  const r = schema.safeParse(value ?? {});
  if (!r.success)
    throw new TributaryError(formatZodError(r.error, where), {
      code: 'invalid',
      location: where,
      nonRetryable: true,
    });
  return r.data;
}

const statusByCode: Partial<Record<IssueCode, number>> = {
  invalid: 400,
  structure: 400,
  required: 400,
  value: 400,
  security: 403,
  'not-found': 404,
  invariant: 409,
  'too-costly': 413,
  'not-supported': 501,
};

class AuthError extends TributaryError {
  constructor(message: string) {
    super(message, { code: 'security', nonRetryable: true });
  }
}

export function openApiDocument(routes: RouteSpec[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const json = (s: z.ZodType) => z.toJSONSchema(s, { unrepresentable: 'any', io: 'input' });
  for (const r of routes) {
    const p = r.url.replace(/:([A-Za-z]+)/g, '{$1}');
    const paramShape = r.params
      ? ((json(r.params) as { properties?: Record<string, unknown> }).properties ?? {})
      : {};
    const queryShape = r.query
      ? ((json(r.query) as { properties?: Record<string, unknown> }).properties ?? {})
      : {};
    paths[p] ??= {};
    paths[p][r.method.toLowerCase()] = {
      summary: r.summary,
      'x-roles': r.roles,
      security: [{ bearer: [] }],
      parameters: [
        ...Object.entries(paramShape).map(([name, schema]) => ({ name, in: 'path', required: true, schema })),
        ...Object.entries(queryShape).map(([name, schema]) => ({
          name,
          in: 'query',
          required: false,
          schema,
        })),
      ],
      ...(r.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: json(r.body) } } } }
        : {}),
      responses: {
        200: { description: 'OK', content: { [r.produces ?? 'application/json']: {} } },
        400: { description: 'Invalid input (OperationOutcome naming each bad field)' },
        401: { description: 'No or unknown token' },
        403: { description: 'Role or queue not allowed' },
        404: { description: 'Not found' },
        413: { description: 'Body too large' },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Tributary annotation queues', version: '1' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths,
  };
}

const pageDir = path.resolve(import.meta.dirname, 'page');

export async function startAnnotationServer(options: AnnotationServerOptions): Promise<AnnotationServer> {
  const { store } = options;
  const previewRoot = path.resolve(options.previewRoot ?? path.join('data', 'previews'));
  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimit ?? 64 * 1024,
    routerOptions: { maxParamLength: 300 },
  });
  const routes = routeTable(store, previewRoot);
  const openapi = openApiDocument(routes);
  const page = readFileSync(path.join(pageDir, 'index.html'), 'utf8');
  const script = readFileSync(path.join(pageDir, 'app.js'), 'utf8');

  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('cache-control', 'no-store');
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-frame-options', 'DENY');
    return payload;
  });

  app.setErrorHandler((error: unknown, _req, reply) => {
    const err = toError(error);
    const fastifyStatus = (error as { statusCode?: number }).statusCode;
    const fastifyCode = (error as { code?: string }).code;
    let status: number;
    let code: IssueCode;
    let message: string;
    if (err instanceof AuthError) {
      status = 401;
      code = 'security';
      message = err.message;
    } else if (err instanceof TributaryError) {
      status = statusByCode[err.code] ?? 500;
      code = err.code;
      message = status === 500 ? 'internal error (logged)' : err.message;
    } else if (fastifyCode === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      status = 413;
      code = 'too-costly';
      message = `request body is larger than the limit of ${options.bodyLimit ?? 64 * 1024} bytes`;
    } else if (typeof fastifyStatus === 'number' && fastifyStatus >= 400 && fastifyStatus < 500) {
      status = fastifyStatus;
      code = 'invalid';
      // Fastify's own messages (bad JSON, wrong content type) name the problem, not the content.
      message = `request rejected: ${fastifyCode ?? 'bad request'}`;
    } else {
      status = 500;
      code = 'exception';
      message = 'internal error (logged)';
    }
    if (status >= 500)
      log.error('annotation api error', {
        code: err instanceof TributaryError ? err.code : 'exception',
        name: err.name,
      });
    reply
      .code(status)
      .type('application/json')
      .send(createOperationOutcome({ severity: 'error', code, diagnostics: message }));
  });

  app.setNotFoundHandler((_req, reply) => {
    reply
      .code(404)
      .send(createOperationOutcome({ severity: 'error', code: 'not-found', diagnostics: 'no such route' }));
  });

  app.get('/health', async () => ({ status: 'ok', store: store.kind }));
  app.get('/openapi.json', async () => openapi);
  app.get('/', async (_req, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header(
        'content-security-policy',
        "default-src 'self'; img-src 'self' blob:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
      )
      .send(page),
  );
  app.get('/app.js', async (_req, reply) => reply.type('text/javascript; charset=utf-8').send(script));

  for (const r of routes) {
    app.route({
      method: r.method,
      url: r.url,
      handler: async (req: FastifyRequest, reply: FastifyReply) => {
        const user = await authenticate(store, req);
        if (!r.roles.includes(user.role))
          throw new TributaryError(`this needs one of the roles: ${r.roles.join(', ')}`, {
            code: 'security',
          });
        const params = parsePart(r.params, req.params, 'path parameters');
        const query = parsePart(r.query ?? emptyQuery, req.query, 'query');
        const body = parsePart(r.body, req.body, 'request body');
        return r.handler({ user, params, query, body, reply });
      },
    });
  }

  const address = await app.listen({ port: options.port ?? 0, host: options.host ?? '127.0.0.1' });
  log.info('annotation server listening', { address, store: store.kind });
  return { url: address, close: () => app.close() };
}

async function authenticate(store: QueueStore, req: FastifyRequest): Promise<User> {
  const header = req.headers.authorization;
  if (!header) throw new AuthError('authentication required: send Authorization: Bearer <token>');
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  if (!m) throw new AuthError('the Authorization header must be: Bearer <token>');
  const user = await store.authenticate(m[1]);
  if (!user) throw new AuthError('unknown or revoked token');
  return user;
}
