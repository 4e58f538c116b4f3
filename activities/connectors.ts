import { Client as FhirClient } from 'fhir-kit-client';
import { z } from 'zod';
import { createDicomWebClient, jsonValue, type DicomJson, type DicomWebClient } from '../imaging/dicomweb';
import {
  countHl7LinesAndMessages,
  countNewlines,
  createCsvCutter,
  createHl7Cutter,
  createXmlCutter,
  escapeXmlAttribute,
  isPieceFormat,
  type Hl7FileState,
  type PieceCutter,
  type PieceFormat,
} from '../mappers/file-pieces';
import { FlatXmlScanner, XmlScanError } from '../mappers/wearable/xml-scan';
import { parseAtEdge } from '../platform/config';
import { TributaryError, toError } from '../platform/errors';
import { readBodyWithin, tooLargeError } from '../platform/http-body';
import { LineSplitter } from '../platform/read-lines';
import { fhirModeSchema, imagingModeSchema, type FhirMode, type ImagingMode } from '../schemas/ingest';
import { registryFormatOf, sourcesOf, type Institution, type SourceKind } from '../schemas/institution';
import { createSmartAuth, type SmartAccess } from './smart-auth';

/**
 * Source connectors: one page at a time from an institution's endpoint. A cursor is a small JSON string we built
 * (a file index, a resource-type index and a server paging link); it never holds patient data. Pages are raw
 * bytes for staging: the connector does not parse records.
 *
 * Endpoint layout (synth/FORMATS.md, "HTTP"): `<endpoint>/<inst>/fhir/...` (FHIR R4 API, fhir-api institutions)
 * and `<endpoint>/<inst>/files/` (a JSON index of file drops) + `<endpoint>/<inst>/files/<path>`. Imaging in
 * `dicomweb` mode: the institution's PACS DICOMweb root, `imaging.dicomwebUrl` in the registry, else
 * `<endpoint>/<inst>/dicom-web` (synth serve's per-institution PACS view).
 *
 * A FHIR-API institution with a `smart` block in the registry is called with a SMART Backend Services bearer token
 * (activities/smart-auth.ts): search pages, the Bulk kick-off, status polls and, when the manifest says
 * `requiresAccessToken`, the NDJSON downloads. A 401 drops the token and the request is retried once with a new one.
 */

/** A page's part: a file, or a piece of one with its place in the file (see MapContext). */
export interface PagePart {
  name: string;
  bytes: Buffer;
  firstLine?: number;
  firstRecord?: number;
  hl7File?: Hl7FileState;
}

export interface SourcePage {
  /** What the bytes are, for the mapper: a registry format, `fhir-bundle` for a searchset page, `dicom-study`. */
  format: string;
  /** Where the page came from, for error locations: a file path or `<Type> page n`. Never a value. */
  sourceFile: string;
  /**
   * The page: files' bytes, one searchset Bundle, or for imaging whole studies' instances. A piece of a file too large
   * for one page is, for HIS CSV, its header, then the file's lines from `firstLine` on; for HL7 v2, the file's lines
   * from `firstLine` on, starting at message `firstRecord` of the file.
   */
  parts: PagePart[];
  nextCursor?: string;
  /**
   * Files finished on this page whose own count of their records disagrees with the records read (a Bulk manifest's
   * `count`): records may be missing upstream (see SourceCounts.sourceGaps).
   */
  sourceGaps?: number;
}

export interface FetchPageRequest {
  endpoint: string;
  institution: Institution;
  source: SourceKind;
  cursor?: string;
  since?: string;
  pageSize: number;
  /** Resumable progress inside a page (e.g. instances of a study already downloaded). */
  onProgress?: (detail: string) => void;
}

export interface HttpOptions {
  fetch?: typeof fetch;
  /** Where SMART private keys named by `privateKeyEnv` are read (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Requests per second per institution (token bucket, shared by every activity in this worker). */
  ratePerSecond?: number;
  /**
   * File drops: files per page (default 25). Every page costs a chain of activities and staging objects, and most
   * files hold a handful of records, so one file per page made per-page overhead dominate. Imaging pages hold
   * whole studies up to this many instances: with Temporal, each imaging page costs a round trip to the imaging
   * queue and its own step chain, and most studies are a few instances (`bench/e2e-ingest.ts --patients 100`,
   * alternating with one study per page: with Temporal +7% and +19% records/s, in one process unchanged).
   */
  filesPerPage?: number;
  /**
   * File drops: a page also stops before its listed file sizes pass this many bytes (default 64 MiB; a larger file is
   * a page of its own), so that a drop of large files does not make a page of gigabytes: a page is read, staged and
   * mapped in memory.
   */
  pageBytes?: number;
  /**
   * The largest file a drop may hold (default 256 MiB): a file is read whole, and mapping a page holds about 7 times
   * its size (`tributary map` on a 284 MB NDJSON file read whole peaked at 2.1 GB); one past this is refused by name
   * and size (non-retryable) rather than exhausting the worker's memory on every retry. WADO-RS responses too.
   */
  maxFileBytes?: number;
  /**
   * FHIR-API institutions: `search` (default) pages each resource type with `_count`; `bulk` runs one Bulk Data
   * `$export` and pages through its NDJSON files, pageSize lines at a time. Same packed pages either way.
   */
  fhirMode?: FhirMode;
  /** Bulk: how many status polls one page may wait through before giving up (retryably). Default 30: at most 10 s each, inside the 10-minute activity timeout. */
  bulkMaxPolls?: number;
  /**
   * Imaging: `files` (default) pulls DICOM file drops from `<endpoint>/<inst>/files/`; `dicomweb` pulls from the
   * institution's PACS by QIDO-RS (studies, then each study's instances) and WADO-RS (one instance at a time).
   * Same pages either way: whole studies up to filesPerPage instances, format `dicom-study`.
   */
  imagingMode?: ImagingMode;
}

export const DEFAULT_FILES_PER_PAGE = 25;
export const DEFAULT_PAGE_BYTES = 64 * 2 ** 20;
export const DEFAULT_MAX_FILE_BYTES = 256 * 2 ** 20;

/** Studies per QIDO-RS request when listing a PACS. */
export const QIDO_PAGE = 500;
/** How long a source run's later pages may reuse the study listing its first page made. */
const LISTING_TTL_MS = 10 * 60_000;

/**
 * What a FHIR-API EHR is asked for, in this order: Patient first (later resources link to known patients), then what
 * clinical resources refer to, then the patient compartment's clinical types (US Core's, claims included; not
 * Provenance, which an EHR writes for every change: add it with `ehr.types` where it is wanted). A run asks
 * for those the server's CapabilityStatement lists (a server holding fewer types answered the others 404 and failed
 * the source), or for the registry's `ehr.types`. Only six were asked for before: a real Synthea EHR's allergies,
 * immunizations, procedures, devices and practitioners were never pulled.
 */
export const DEFAULT_FHIR_TYPES = [
  'Patient',
  'Practitioner',
  'PractitionerRole',
  'Organization',
  'Location',
  'Encounter',
  'Condition',
  'Observation',
  'DiagnosticReport',
  'Procedure',
  'MedicationRequest',
  'MedicationAdministration',
  'MedicationStatement',
  'Immunization',
  'AllergyIntolerance',
  'CarePlan',
  'CareTeam',
  'Goal',
  'ServiceRequest',
  'DocumentReference',
  'Device',
  'ImagingStudy',
  'Coverage',
  'Claim',
  'ExplanationOfBenefit',
];
/** The list before it grew: a search cursor saved without its own list (a run in flight then) indexes this one. */
const FHIR_TYPES_BEFORE_20261205 = [
  'Patient',
  'Encounter',
  'Condition',
  'Observation',
  'MedicationRequest',
  'DocumentReference',
];

const fileIndexSchema = z.object({
  files: z.array(
    z.object({
      source: z.string(),
      path: z.string(),
      size: z.number().optional(),
      url: z.string().optional(),
    }),
  ),
});

/**
 * File cursor: the next file's index; inside a file split into pieces, the next piece's byte and line too, and for
 * HL7 v2 the ordinal of its first message.
 */
const fileCursorSchema = z.object({
  i: z.number().int().nonnegative(),
  b: z.number().int().positive().optional(),
  l: z.number().int().positive().optional(),
  r: z.number().int().positive().optional(),
  /** HL7 v2: what the piece needs from those before it (Hl7FileState: the open batch envelope, the file's charset). */
  e: z
    .object({
      batchMessages: z.number().int().nonnegative().optional(),
      fileBatches: z.number().int().nonnegative().optional(),
      charset: z.string().max(64).optional(),
    })
    .optional(),
});
/** Search cursor: the index of the type in `types` (resource type names, planned on the first page), a next link. */
const fhirCursorSchema = z.object({
  t: z.number().int().nonnegative(),
  next: z.string().optional(),
  types: z.array(z.string().regex(/^[A-Z][A-Za-z]+$/)).optional(),
});
/** Bulk cursor: the export's status URL (a server job link, no PHI), the manifest file index, line and byte offsets. */
const bulkCursorSchema = z.object({
  status: z.string(),
  f: z.number().int().nonnegative(),
  /** Lines of the file taken by earlier pages. */
  l: z.number().int().nonnegative(),
  /** Where the next page starts in the file, in bytes (absent from cursors written before it: then `l` is skipped). */
  b: z.number().int().nonnegative().optional(),
});
const bulkManifestSchema = z.object({
  requiresAccessToken: z.boolean().optional(),
  output: z.array(
    z.object({ type: z.string(), url: z.string(), count: z.number().int().nonnegative().optional() }),
  ),
  error: z.array(z.object({ type: z.string(), url: z.string() })).optional(),
});

/** One token bucket per institution: the worker never hits an institution faster than its rate. */
export function createRateLimiter(ratePerSecond: number): (institution: string) => Promise<void> {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const burst = Math.max(1, Math.ceil(ratePerSecond));
  return async (institution) => {
    for (;;) {
      const now = Date.now();
      const b = buckets.get(institution) ?? { tokens: burst, at: now };
      b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * ratePerSecond);
      b.at = now;
      buckets.set(institution, b);
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return;
      }
      await new Promise((r) => setTimeout(r, Math.ceil(((1 - b.tokens) / ratePerSecond) * 1000)));
    }
  };
}

export function createConnectors(options: HttpOptions = {}) {
  const doFetch = options.fetch ?? fetch;
  const limit = createRateLimiter(options.ratePerSecond ?? 50);
  const filesPerPage = options.filesPerPage ?? DEFAULT_FILES_PER_PAGE;
  const pageBytes = options.pageBytes ?? DEFAULT_PAGE_BYTES;
  const maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  if (!Number.isInteger(filesPerPage) || filesPerPage < 1) {
    throw new TributaryError('filesPerPage must be a positive integer', {
      code: 'invalid',
      location: 'connectors',
      nonRetryable: true,
    });
  }

  const smartAuth = createSmartAuth({ fetch: doFetch, env: options.env });

  /**
   * Run an HTTP call with the institution's bearer token (if it has one). A 401 means the server no longer takes
   * the token (expired early, revoked, server restarted): drop it and retry once with a fresh one; a second 401 is
   * the caller's error as usual.
   */
  async function authorized<T>(
    auth: SmartAccess | undefined,
    call: (bearer: string | undefined) => Promise<T>,
  ): Promise<T> {
    if (!auth) return call(undefined);
    const token = await auth.token();
    try {
      return await call(token);
    } catch (e) {
      if (statusOf(e) !== 401) throw e;
      auth.invalidate(token);
      return call(await auth.token());
    }
  }

  /**
   * A GET under the institution's rate limit. A network failure is retryable; an HTTP refusal other than `accept`
   * becomes httpError (429 and 5xx retryable, Retry-After honoured), its body drained.
   */
  async function send(
    institution: string,
    url: string,
    where: string,
    headers: Record<string, string>,
    accept: (status: number) => boolean = () => false,
    signal?: AbortSignal,
  ): Promise<Response> {
    await limit(institution);
    let res: Response;
    try {
      res = await doFetch(url, { headers, signal });
    } catch (e) {
      throw new TributaryError(
        `${where}: request failed (${(toError(e).cause as { code?: string } | undefined)?.code ?? 'network'})`,
        { code: 'transient', location: where },
      );
    }
    if (!res.ok && !accept(res.status)) {
      await res.arrayBuffer().catch(() => undefined);
      throw httpError(res.status, res.headers.get('retry-after'), where);
    }
    return res;
  }

  const bearerHeaders = (bearer: string | undefined): Record<string, string> =>
    bearer === undefined ? {} : { authorization: `Bearer ${bearer}` };

  /** GET a whole body of at most `maxBytes`. */
  async function get(
    institution: string,
    url: string,
    where: string,
    auth?: SmartAccess,
    maxBytes = Infinity,
  ): Promise<Buffer> {
    return authorized(auth, async (bearer) =>
      readBodyWithin(await send(institution, url, where, bearerHeaders(bearer)), maxBytes, where),
    );
  }

  /**
   * A file from byte `from` on, chunk by chunk, to `consume` (each chunk with its offset in the file) until it returns
   * true or the file ends. A server that honours Range sends only that part; from one that does not, the bytes
   * before `from` are skipped as they arrive. A file read this way is never held whole: Bulk output files and HIS
   * dumps run to gigabytes. Each chunk is a fresh buffer of the response: a consumer may keep it without copying.
   */
  async function readFrom(
    institution: string,
    url: string,
    where: string,
    auth: SmartAccess | undefined,
    from: number,
    consume: (chunk: Buffer, at: number) => boolean,
  ): Promise<void> {
    return authorized(auth, async (bearer) => {
      const headers = bearerHeaders(bearer);
      if (from > 0) headers.range = `bytes=${from}-`;
      // Stopping early aborts the request, so the connection is closed rather than left with the rest of the file.
      const abort = new AbortController();
      // Range Not Satisfiable: `from` is the end of the file.
      const res = await send(institution, url, where, headers, (status) => status === 416, abort.signal);
      if (res.status === 416) {
        await res.arrayBuffer().catch(() => undefined);
        return;
      }
      if (!res.body) throw httpError(res.status, res.headers.get('retry-after'), where);
      const reader = res.body.getReader();
      let at = res.status === 206 ? from : 0;
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          let chunk = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
          if (at < from) {
            const skip = Math.min(from - at, chunk.length);
            chunk = chunk.subarray(skip);
            at += skip;
            if (!chunk.length) continue;
          }
          if (consume(chunk, at)) {
            abort.abort();
            return;
          }
          at += chunk.length;
        }
      } finally {
        await reader.cancel().catch(() => undefined);
      }
    });
  }

  /**
   * Up to `maxLines` non-blank lines of an NDJSON file, from byte `from` (or after `skipLines` non-blank lines, for
   * a cursor written before byte offsets), and where the next non-blank line starts (undefined: the file is done).
   * The download stops once the page is full and the next line is seen.
   */
  async function readNdjsonSlice(
    institution: string,
    url: string,
    where: string,
    auth: SmartAccess | undefined,
    pos: { from: number; skipLines: number },
    maxLines: number,
  ): Promise<{ lines: string[]; next?: number }> {
    let skipLines = pos.skipLines;
    const lines: string[] = [];
    let next: number | undefined;
    // Each line taken, skipped, or (page full) the start of the next page; lines after that in the chunk are ignored.
    const splitter = new LineSplitter(
      (text, _lineNo, start) => {
        if (next !== undefined || text.trim() === '') return;
        if (skipLines > 0) skipLines--;
        else if (lines.length < maxLines) lines.push(text);
        else next = pos.from + start;
      },
      { raw: true },
    );
    await readFrom(institution, url, where, auth, pos.from, (chunk) => {
      splitter.push(chunk, chunk.length);
      return next !== undefined;
    });
    if (next === undefined) splitter.end();
    return next !== undefined ? { lines, next } : { lines };
  }

  /**
   * Bytes from `from` (a cut point) to the first cut point at or past `maxBytes` from it, and that cut point
   * (undefined: the file is done).
   */
  async function readPiece(
    institution: string,
    url: string,
    where: string,
    from: number,
    maxBytes: number,
    cutter: PieceCutter,
  ): Promise<{ bytes: Buffer; next?: number }> {
    const chunks: Buffer[] = [];
    let next: number | undefined;
    await readFrom(institution, url, where, undefined, from, (chunk, at) => {
      chunks.push(chunk);
      next = cutter(chunk, at, (cut) => cut - from >= maxBytes);
      // No record boundary in sight (an unclosed CSV quote, XML that stopped being well-formed): the rest would be
      // read into memory whole; past the file limit, refuse it instead.
      if (next === undefined && at + chunk.length - from > maxFileBytes)
        throw new TributaryError(
          `${where}: no record boundary within ${maxFileBytes} bytes after byte ${from} (an unclosed quote, or markup that is not well-formed?); the file cannot be read in pieces`,
          { code: 'too-costly', location: where, nonRetryable: true },
        );
      return next !== undefined;
    });
    const bytes = Buffer.concat(chunks);
    // A cut found late (an HL7 line's first bytes across two chunks) may lie in an earlier chunk.
    return next !== undefined ? { bytes: bytes.subarray(0, next - from), next } : { bytes };
  }

  /** The FHIR client and token source of a FHIR-API institution. */
  function fhirClientFor(req: FetchPageRequest): { baseUrl: string; client: FhirClient; auth?: SmartAccess } {
    const baseUrl = `${req.endpoint.replace(/\/+$/, '')}/${req.institution.id}/fhir`;
    return {
      baseUrl,
      client: new FhirClient({ baseUrl }),
      auth: smartAuth.accessFor(req.institution.id, req.institution.ehr?.smart, baseUrl),
    };
  }

  /** A fhir-kit-client call, authorized; its errors stay raw (fhirError converts them) so a 401 can be recognised. */
  function fhirCall<T>(
    client: FhirClient,
    auth: SmartAccess | undefined,
    institution: string,
    call: () => Promise<T>,
  ): Promise<T> {
    return authorized(auth, async (bearer) => {
      if (bearer !== undefined) client.bearerToken = bearer;
      await limit(institution);
      return call();
    });
  }

  /**
   * The types to ask an institution's FHIR server for: the registry's `ehr.types` or DEFAULT_FHIR_TYPES, narrowed to
   * those its CapabilityStatement lists. A server without one (404, 501) is asked for all; any other failure is the
   * source's, as a search's would be.
   */
  async function planFhirTypes(req: FetchPageRequest, client: FhirClient, auth: SmartAccess | undefined) {
    const wanted = req.institution.ehr?.types ?? DEFAULT_FHIR_TYPES;
    const where = `${req.institution.id} FHIR metadata`;
    let capability: unknown;
    try {
      capability = await fhirCall(client, auth, req.institution.id, () => client.capabilityStatement());
    } catch (e) {
      const status = statusOf(e);
      if (status === 404 || status === 501) return wanted;
      throw fhirError(e, where);
    }
    const rest = (capability as { rest?: { mode?: string; resource?: { type?: unknown }[] }[] })?.rest ?? [];
    const held = new Set(
      rest.filter((r) => r.mode !== 'client').flatMap((r) => (r.resource ?? []).map((x) => x.type)),
    );
    if (held.size === 0) return wanted;
    const types = wanted.filter((t) => held.has(t));
    if (types.length === 0)
      throw new TributaryError(
        `${where}: the server's CapabilityStatement lists none of the types asked for (${wanted.slice(0, 6).join(', ')}, ...)`,
        { code: 'not-found', location: where, nonRetryable: true },
      );
    return types;
  }

  async function listFiles(
    endpoint: string,
    institution: string,
    source: SourceKind,
  ): Promise<{ path: string; url: string; size?: number }[]> {
    const base = `${endpoint.replace(/\/+$/, '')}/${institution}/files/`;
    const body = await get(institution, base, `${institution} file index`);
    const index = parseAtEdge(
      fileIndexSchema,
      JSON.parse(body.toString('utf8')),
      `${institution} file index`,
    );
    return index.files
      .filter((f) => f.source === source)
      .map((f) => ({
        path: f.path,
        size: f.size,
        url: f.url
          ? new URL(f.url, base).toString()
          : base + f.path.split('/').map(encodeURIComponent).join('/'),
      }))
      .sort(byPatientsFirst);
  }

  /**
   * The start of an Apple Health export, up to its first top-level record (past the DTD, ExportDate and Me): the root
   * element's start tag, rebuilt, and where the first record starts. Undefined when there is no record, or the XML
   * breaks before the first: then the file is read whole and the mapper reports where it breaks.
   */
  async function readXmlHead(
    institution: string,
    url: string,
    where: string,
  ): Promise<{ root: string; rootTag: Buffer; body: number; bodyLine: number } | undefined> {
    const chunks: Buffer[] = [];
    let depth = 0;
    let root: { name: string; attrs: Record<string, string> } | undefined;
    let body: number | undefined;
    const scanner = new FlatXmlScanner({
      open: (name, attrs, _line, start) => {
        depth++;
        if (depth === 1) root = { name, attrs };
        else if (depth === 2 && body === undefined && name !== 'ExportDate' && name !== 'Me') body = start;
      },
      close: () => void depth--,
    });
    let broken = false;
    await readFrom(institution, url, where, undefined, 0, (chunk) => {
      chunks.push(chunk);
      try {
        scanner.write(chunk);
      } catch (e) {
        if (!(e instanceof XmlScanError)) throw e;
        broken = true;
      }
      return broken || body !== undefined;
    });
    // Broken after the first record: the pieces before the break are still whole records.
    if (body === undefined || !root) return undefined;
    const attrs = Object.entries(root.attrs).map(([k, v]) => ` ${k}="${escapeXmlAttribute(v)}"`);
    return {
      root: root.name,
      rootTag: Buffer.from(`<${root.name}${attrs.join('')}>`),
      body,
      bodyLine: 1 + countNewlines(Buffer.concat(chunks).subarray(0, body)),
    };
  }

  /**
   * One piece of a file larger than a page, about pageBytes from the cursor's byte: HIS CSV, whole records with the
   * file's header; HL7 v2, whole messages (a batch header stays with its first message); Apple Health, whole
   * top-level records inside the root element's start and end tags.
   */
  async function fetchFilePiece(
    req: FetchPageRequest,
    files: { path: string; url: string; size?: number }[],
    cursor: z.infer<typeof fileCursorSchema>,
    format: PieceFormat,
  ): Promise<SourcePage> {
    const file = files[cursor.i];
    const institution = req.institution.id;
    const afterFile = cursor.i + 1 < files.length ? { i: cursor.i + 1 } : undefined;
    const page = (
      part: SourcePage['parts'][number],
      next?: z.infer<typeof fileCursorSchema>,
    ): SourcePage => ({
      format,
      sourceFile: file.path,
      parts: [part],
      nextCursor: next ? JSON.stringify(next) : undefined,
    });
    if (format === 'his-csv') {
      // The header is the file's first record: the first piece of at least one byte.
      const header = (await readPiece(institution, file.url, file.path, 0, 1, createCsvCutter())).bytes;
      const from = cursor.b ?? header.length;
      const firstLine = cursor.l ?? 1 + countNewlines(header);
      const piece = await readPiece(institution, file.url, file.path, from, pageBytes, createCsvCutter());
      req.onProgress?.(`${cursor.i}:${from}`);
      return page(
        { name: file.path, bytes: Buffer.concat([header, piece.bytes]), firstLine },
        piece.next !== undefined
          ? { i: cursor.i, b: piece.next, l: firstLine + countNewlines(piece.bytes) }
          : afterFile,
      );
    }
    if (format === 'hl7v2') {
      const from = cursor.b ?? 0;
      const firstLine = cursor.l ?? 1;
      const firstRecord = cursor.r ?? 1;
      const hl7File = cursor.e ?? {};
      const piece = await readPiece(institution, file.url, file.path, from, pageBytes, createHl7Cutter(from));
      req.onProgress?.(`${cursor.i}:${from}`);
      const counted = countHl7LinesAndMessages(piece.bytes, hl7File);
      return page(
        { name: file.path, bytes: piece.bytes, firstLine, firstRecord, hl7File },
        piece.next !== undefined
          ? {
              i: cursor.i,
              b: piece.next,
              l: firstLine + counted.lines,
              r: firstRecord + counted.messages,
              e: counted.state,
            }
          : afterFile,
      );
    }
    const head = await readXmlHead(institution, file.url, file.path);
    if (!head) {
      if (cursor.b !== undefined)
        throw new TributaryError(
          `${file.path}: changed since its first piece was read (its start is no longer an export)`,
          {
            code: 'processing',
            location: file.path,
            nonRetryable: true,
          },
        );
      const bytes = await get(institution, file.url, file.path, undefined, maxFileBytes);
      return page({ name: file.path, bytes }, afterFile);
    }
    const from = cursor.b ?? head.body;
    const firstLine = cursor.l ?? head.bodyLine;
    const firstRecord = cursor.r ?? 1;
    const xml = createXmlCutter(head.rootTag, from);
    const piece = await readPiece(institution, file.url, file.path, from, pageBytes, xml.cutter);
    req.onProgress?.(`${cursor.i}:${from}`);
    const last = piece.next === undefined;
    const bytes = Buffer.concat([
      head.rootTag,
      piece.bytes,
      last ? Buffer.alloc(0) : Buffer.from(`</${head.root}>`),
    ]);
    return page(
      { name: file.path, bytes, firstLine, firstRecord },
      last
        ? afterFile
        : {
            i: cursor.i,
            b: piece.next!,
            l: firstLine + countNewlines(piece.bytes),
            r: firstRecord + xml.records(),
          },
    );
  }

  /** File drops: up to filesPerPage files per page; imaging: whole study folders, up to filesPerPage instances. */
  async function fetchFilePage(req: FetchPageRequest): Promise<SourcePage> {
    const cursor = req.cursor
      ? parseAtEdge(fileCursorSchema, JSON.parse(req.cursor), 'file cursor')
      : { i: 0 };
    const files = await listFiles(req.endpoint, req.institution.id, req.source);
    const format = formatOf(req.institution, req.source);
    // A CSV dump, an HL7 batch file or an Apple Health export past a page's bytes goes in pieces of whole records
    // (other formats are read whole, up to maxFileBytes).
    if (
      isPieceFormat(format) &&
      files[cursor.i] &&
      (cursor.b !== undefined || (files[cursor.i].size ?? 0) > pageBytes)
    )
      return fetchFilePiece(req, files, cursor, format);
    if (req.source !== 'imaging') {
      // Up to filesPerPage files and pageBytes of them by the listing's sizes; always at least one.
      let end = cursor.i;
      let bytes = 0;
      while (end < files.length && end - cursor.i < filesPerPage) {
        const size = files[end].size ?? 0;
        if (end > cursor.i && bytes + size > pageBytes) break;
        bytes += size;
        end++;
      }
      const slice = files.slice(cursor.i, end);
      if (slice.length === 0) return { format, sourceFile: '(none)', parts: [] };
      for (const file of slice)
        if ((file.size ?? 0) > maxFileBytes) throw tooLargeError(file.path, file.size!, maxFileBytes);
      const parts: SourcePage['parts'] = [];
      for (const file of slice) {
        parts.push({
          name: file.path,
          bytes: await get(req.institution.id, file.url, file.path, undefined, maxFileBytes),
        });
        req.onProgress?.(`${cursor.i + parts.length}`);
      }
      return {
        format,
        sourceFile: slice.length === 1 ? slice[0].path : `${slice[0].path}..${slice[slice.length - 1].path}`,
        parts,
        nextCursor: end < files.length ? JSON.stringify({ i: end }) : undefined,
      };
    }
    // Whole studies, as many as fit in filesPerPage instances (a larger study is a page of its own). The cursor is
    // still the index of the next study, so a cursor from when a page held one study resumes where it was.
    const byStudy = new Map<string, typeof files>();
    for (const f of files) {
      const study = studyOf(f.path);
      const list = byStudy.get(study);
      if (list) list.push(f);
      else byStudy.set(study, [f]);
    }
    const studies = [...byStudy.keys()];
    if (cursor.i >= studies.length) return { format: 'dicom-study', sourceFile: '(none)', parts: [] };
    let end = cursor.i;
    let instances = 0;
    while (end < studies.length) {
      const size = byStudy.get(studies[end])!.length;
      if (end > cursor.i && instances + size > filesPerPage) break;
      instances += size;
      end++;
    }
    const parts: SourcePage['parts'] = [];
    for (const study of studies.slice(cursor.i, end)) {
      for (const f of byStudy.get(study)!) {
        if ((f.size ?? 0) > maxFileBytes) throw tooLargeError(f.path, f.size!, maxFileBytes);
        parts.push({
          name: f.path,
          bytes: await get(req.institution.id, f.url, f.path, undefined, maxFileBytes),
        });
        req.onProgress?.(`${study}:${parts.length}`);
      }
    }
    return {
      format: 'dicom-study',
      sourceFile: end - cursor.i === 1 ? studies[cursor.i] : `${studies[cursor.i]}..${studies[end - 1]}`,
      parts,
      nextCursor: end < studies.length ? JSON.stringify({ i: end }) : undefined,
    };
  }

  /** FHIR search paging through fhir-kit-client: each resource type in turn, following `next` links. */
  async function fetchFhirPage(req: FetchPageRequest): Promise<SourcePage> {
    const { client, auth } = fhirClientFor(req);
    const cursor = req.cursor
      ? parseAtEdge(fhirCursorSchema, JSON.parse(req.cursor), 'FHIR cursor')
      : { t: 0, types: await planFhirTypes(req, client, auth) };
    const types = cursor.types ?? FHIR_TYPES_BEFORE_20261205;
    const type = types[cursor.t];
    if (!type) return { format: 'fhir', sourceFile: '(none)', parts: [] };
    const where = `${req.institution.id} FHIR ${type} search`;
    let bundle: Record<string, unknown>;
    try {
      bundle = await fhirCall(client, auth, req.institution.id, async () =>
        cursor.next
          ? ((await client.request(cursor.next)) as Record<string, unknown>)
          : ((await client.search({
              resourceType: type,
              searchParams: {
                _count: String(req.pageSize),
                ...(req.since ? { _lastUpdated: `gt${req.since}` } : {}),
              },
            })) as Record<string, unknown>),
      );
    } catch (e) {
      throw fhirError(e, where);
    }
    const links = (bundle.link ?? []) as { relation?: string; url?: string }[];
    const nextUrl = links.find((l) => l.relation === 'next')?.url;
    const entries = ((bundle.entry ?? []) as { resource?: unknown }[]).filter((e) => e.resource);
    const ndjson = entries.map((e) => JSON.stringify(e.resource)).join('\n') + (entries.length ? '\n' : '');
    const next = nextUrl
      ? { t: cursor.t, next: nextUrl, types: cursor.types }
      : cursor.t + 1 < types.length
        ? { t: cursor.t + 1, types: cursor.types }
        : undefined;
    return {
      format: 'fhir',
      sourceFile: `${type}.ndjson`,
      parts: [{ name: `${type}.ndjson`, bytes: Buffer.from(ndjson) }],
      nextCursor: next ? JSON.stringify(next) : undefined,
    };
  }

  const fhirMode = parseAtEdge(fhirModeSchema, options.fhirMode ?? 'search', 'connectors fhirMode');
  const bulkMaxPolls = options.bulkMaxPolls ?? 30;

  /** Kick off `$export` for the FHIR types (since `since`, if given) and return the status URL. */
  async function kickOffExport(
    client: FhirClient,
    auth: SmartAccess | undefined,
    req: FetchPageRequest,
    where: string,
  ): Promise<string> {
    const types = await planFhirTypes(req, client, auth);
    let kick: unknown;
    try {
      kick = await fhirCall(client, auth, req.institution.id, () =>
        client.operation({
          name: '$export',
          method: 'get',
          input: { _type: types.join(','), ...(req.since ? { _since: req.since } : {}) },
          options: { headers: { prefer: 'respond-async', accept: 'application/fhir+json' } },
        } as never),
      );
    } catch (e) {
      throw fhirError(e, where);
    }
    const res = FhirClient.httpFor(kick as never)?.response;
    const status = res?.headers.get('content-location');
    if (res?.status !== 202 || !status) {
      throw new TributaryError(
        `${where}: kick-off answered HTTP ${res?.status ?? '?'} without a Content-Location`,
        { code: 'processing', location: where, nonRetryable: true },
      );
    }
    return status;
  }

  /** Poll the status URL until the manifest is ready, sleeping Retry-After (capped) between polls; bounded. */
  async function awaitManifest(
    client: FhirClient,
    auth: SmartAccess | undefined,
    req: FetchPageRequest,
    status: string,
    where: string,
  ): Promise<z.infer<typeof bulkManifestSchema>> {
    for (let poll = 0; poll < bulkMaxPolls; poll++) {
      let body: unknown;
      try {
        body = await fhirCall(client, auth, req.institution.id, () => client.request(status));
      } catch (e) {
        throw fhirError(e, where);
      }
      const res = FhirClient.httpFor(body as never)?.response;
      if (res?.status === 200) return parseAtEdge(bulkManifestSchema, body, `${where} manifest`);
      if (res?.status !== 202)
        throw httpError(res?.status ?? 0, res?.headers.get('retry-after') ?? null, where);
      req.onProgress?.(`export poll ${poll + 1}`);
      // Retry-After in seconds (an HTTP date or none: 1 s), capped so a page stays within its activity timeout.
      const header = res.headers.get('retry-after');
      const seconds = header === null || header.trim() === '' ? NaN : Number(header);
      await new Promise((r) =>
        setTimeout(r, Math.min(Number.isFinite(seconds) && seconds >= 0 ? seconds : 1, 10) * 1000),
      );
    }
    throw new TributaryError(`${where}: export not ready after ${bulkMaxPolls} polls`, {
      code: 'transient',
      location: where,
    });
  }

  /**
   * Bulk Data `$export`: the first page kicks off and waits for the manifest; every page then takes up to pageSize
   * lines of one output file, in DEFAULT_FHIR_TYPES order (Patient first, so later resources link to known patients), from
   * the byte where the last page stopped (readNdjsonSlice).
   */
  async function fetchBulkPage(req: FetchPageRequest): Promise<SourcePage> {
    const where = `${req.institution.id} FHIR $export`;
    const { baseUrl, client, auth } = fhirClientFor(req);
    const cursor = req.cursor
      ? parseAtEdge(bulkCursorSchema, JSON.parse(req.cursor), 'FHIR bulk cursor')
      : { status: await kickOffExport(client, auth, req, where), f: 0, l: 0, b: 0 };
    const manifest = await awaitManifest(client, auth, req, cursor.status, where);
    if (manifest.error?.length) {
      throw new TributaryError(`${where}: the export reported ${manifest.error.length} error file(s)`, {
        code: 'processing',
        location: where,
        nonRetryable: true,
      });
    }
    const rank = (type: string) =>
      DEFAULT_FHIR_TYPES.includes(type) ? DEFAULT_FHIR_TYPES.indexOf(type) : DEFAULT_FHIR_TYPES.length;
    const files = manifest.output
      .map((o, i) => ({ ...o, i }))
      .sort((a, b) => rank(a.type) - rank(b.type) || a.i - b.i);
    const file = files[cursor.f];
    if (!file) return { format: 'fhir', sourceFile: '(none)', parts: [] };
    const name = `${file.type}.ndjson`;
    // Files may live elsewhere (an object store's signed URLs): the token goes along only when the manifest asks for it.
    const slice = await readNdjsonSlice(
      req.institution.id,
      new URL(file.url, `${baseUrl}/`).toString(),
      `${where} ${name}`,
      manifest.requiresAccessToken ? auth : undefined,
      cursor.b !== undefined ? { from: cursor.b, skipLines: 0 } : { from: 0, skipLines: cursor.l },
      req.pageSize,
    );
    const chunk = slice.lines;
    // The file is done: the manifest's count (optional in the Bulk spec) is what the server wrote.
    const gap =
      slice.next === undefined && file.count !== undefined && cursor.l + chunk.length !== file.count;
    const next =
      slice.next !== undefined
        ? { ...cursor, l: cursor.l + chunk.length, b: slice.next }
        : cursor.f + 1 < files.length
          ? { status: cursor.status, f: cursor.f + 1, l: 0, b: 0 }
          : undefined;
    return {
      format: 'fhir',
      sourceFile: name,
      parts: [{ name, bytes: Buffer.from(chunk.map((line) => line + '\n').join('')) }],
      nextCursor: next ? JSON.stringify(next) : undefined,
      ...(gap ? { sourceGaps: 1 } : {}),
    };
  }

  const imagingMode = parseAtEdge(
    imagingModeSchema,
    options.imagingMode ?? 'files',
    'connectors imagingMode',
  );

  /** A DICOMweb call with the institution's rate limit; the client's errors get the institution as location. */
  async function dicomWeb<T>(institution: string, where: string, call: () => Promise<T>): Promise<T> {
    await limit(institution);
    try {
      return await call();
    } catch (e) {
      const err = toError(e);
      if (!(err instanceof TributaryError))
        throw new TributaryError(`${where}: request failed (${err.name})`, {
          code: 'transient',
          location: where,
        });
      const out = new TributaryError(`${where}: ${err.message}`, {
        code: err.code,
        location: where,
        nonRetryable: err.nonRetryable,
      });
      const retryAfterMs = (err as TributaryError & { retryAfterMs?: number }).retryAfterMs;
      if (retryAfterMs !== undefined)
        (out as TributaryError & { retryAfterMs?: number }).retryAfterMs = retryAfterMs;
      throw out;
    }
  }

  /** Sorted study listings by DICOMweb root and query (UIDs stay in this process's memory, never in a cursor). */
  const studyListings = new Map<
    string,
    { at: number; studies: { uid: string; date: string; time: string }[] }
  >();

  /**
   * Every study matching the query, QIDO_PAGE at a time (PACSs cap QIDO answers); stops on a short page, or when a
   * page brings nothing new (a server that ignores offset).
   */
  async function searchAllStudies(
    client: DicomWebClient,
    institution: string,
    query: Record<string, string>,
  ) {
    const byUid = new Map<string, { uid: string; date: string; time: string }>();
    for (let offset = 0; ; offset += QIDO_PAGE) {
      const page = await dicomWeb(institution, `${institution} DICOMweb search studies`, () =>
        client.searchStudies({ ...query, limit: String(QIDO_PAGE), offset: String(offset) }),
      );
      const before = byUid.size;
      for (const s of page) {
        const uid = text(s, '0020000D');
        if (uid) byUid.set(uid, { uid, date: text(s, '00080020'), time: text(s, '00080030') });
      }
      if (page.length < QIDO_PAGE || byUid.size === before) return [...byUid.values()];
    }
  }

  /**
   * DICOMweb: QIDO-RS lists the PACS's studies (from `since`'s day on, by StudyDate), in a stable order (StudyDate,
   * StudyTime, then StudyInstanceUID: new studies land at the end); the cursor is the index of the next study in
   * that order, so no UID leaves this function. A page is whole studies, up to filesPerPage instances (one study
   * when it is larger): QIDO each study's instances, WADO-RS each in (series, instance number) order, heartbeating
   * per instance.
   */
  async function fetchDicomWebPage(req: FetchPageRequest): Promise<SourcePage> {
    const cursor = req.cursor
      ? parseAtEdge(fileCursorSchema, JSON.parse(req.cursor), 'DICOMweb cursor')
      : { i: 0 };
    const inst = req.institution;
    const root = inst.imaging?.dicomwebUrl ?? `${req.endpoint.replace(/\/+$/, '')}/${inst.id}/dicom-web`;
    const client = createDicomWebClient(root, { maxBodyBytes: maxFileBytes });
    const query: Record<string, string> = req.since
      ? { StudyDate: `${localDateOf(req.since, inst.timezone, 'since')}-` }
      : {};
    // Listing a PACS is the costly call (Orthanc: ~12 ms per study). A source run lists afresh on its first page
    // (nothing that arrived since an earlier run is missed) and its later pages reuse that listing in this process.
    const listingKey = `${root}?${new URLSearchParams(query).toString()}`;
    let listing = req.cursor ? studyListings.get(listingKey) : undefined;
    if (!listing || Date.now() - listing.at > LISTING_TTL_MS) {
      const found = await searchAllStudies(client, inst.id, query);
      listing = {
        at: Date.now(),
        studies: found.sort(
          (a, b) => compare(a.date, b.date) || compare(a.time, b.time) || compare(a.uid, b.uid),
        ),
      };
      for (const [k, v] of studyListings) if (Date.now() - v.at > LISTING_TTL_MS) studyListings.delete(k);
      studyListings.set(listingKey, listing);
    }
    const studies = listing.studies;
    if (cursor.i >= studies.length) return { format: 'dicom-study', sourceFile: '(none)', parts: [] };
    // Whole studies up to filesPerPage instances, as for file drops: a study's instances are listed before it is
    // taken, so the one that does not fit costs its QIDO call again on the next page.
    const page: { index: number; uid: string; instances: DicomWebInstance[] }[] = [];
    let count = 0;
    for (let i = cursor.i; i < studies.length; i++) {
      const instances = await listStudyInstances(client, inst.id, i, studies[i].uid);
      if (page.length > 0 && count + instances.length > filesPerPage) break;
      page.push({ index: i, uid: studies[i].uid, instances });
      count += instances.length;
    }
    const parts: SourcePage['parts'] = [];
    for (const study of page) {
      const name = studyPageName(study.index);
      const where = `${inst.id} DICOMweb ${name}`;
      for (const [n, x] of study.instances.entries()) {
        const bytes = await dicomWeb(inst.id, `${where} retrieve instance ${n + 1}`, () =>
          client.retrieveInstance(study.uid, x.series, x.sop),
        );
        parts.push({ name: `${name}/instance-${String(n + 1).padStart(4, '0')}.dcm`, bytes });
        req.onProgress?.(`${name}:${n + 1}/${study.instances.length}`);
      }
    }
    const end = page[page.length - 1].index + 1;
    return {
      format: 'dicom-study',
      sourceFile:
        page.length === 1 ? studyPageName(cursor.i) : `${studyPageName(cursor.i)}..${studyPageName(end - 1)}`,
      parts,
      nextCursor: end < studies.length ? JSON.stringify({ i: end }) : undefined,
    };
  }

  /** A study's instances by QIDO-RS, in (series, instance number) order. */
  async function listStudyInstances(
    client: ReturnType<typeof createDicomWebClient>,
    institution: string,
    index: number,
    studyUid: string,
  ): Promise<DicomWebInstance[]> {
    const where = `${institution} DICOMweb ${studyPageName(index)}`;
    const instances = (
      await dicomWeb(institution, `${where} search instances`, () =>
        client.searchInstances(studyUid, { includefield: '00200011' }),
      )
    )
      .map((x) => ({
        series: text(x, '0020000E'),
        seriesNumber: Number(text(x, '00200011')) || 0,
        sop: text(x, '00080018'),
        number: Number(text(x, '00200013')) || 0,
      }))
      .sort(
        (a, b) =>
          a.seriesNumber - b.seriesNumber ||
          compare(a.series, b.series) ||
          a.number - b.number ||
          compare(a.sop, b.sop),
      );
    if (instances.some((x) => !x.series || !x.sop)) {
      throw new TributaryError(
        `${where}: an instance in the QIDO answer has no SeriesInstanceUID or SOPInstanceUID`,
        { code: 'structure', location: where, nonRetryable: true },
      );
    }
    return instances;
  }

  return {
    async fetchPage(req: FetchPageRequest): Promise<SourcePage> {
      if (!sourcesOf(req.institution).includes(req.source))
        throw new TributaryError(
          `${req.institution.id} sends no ${req.source} (its registry entry has no ${req.source} block)`,
          { code: 'invalid', nonRetryable: true },
        );
      if (req.source === 'ehr' && req.institution.ehr?.format === 'fhir-api')
        return fhirMode === 'bulk' ? fetchBulkPage(req) : fetchFhirPage(req);
      if (req.source === 'imaging' && imagingMode === 'dicomweb') return fetchDicomWebPage(req);
      return fetchFilePage(req);
    },
  };
}

export type Connectors = ReturnType<typeof createConnectors>;

/** The mapper format name (mappers/types.ts sourceFormats) for an institution's source. */
export function formatOf(institution: Institution, source: SourceKind): string {
  if (source === 'imaging') return 'dicom-study';
  const format = registryFormatOf(institution, source)!;
  return format === 'fhir-api' ? 'fhir' : format;
}

/** Path order, except that patient tables come first: later tables reference the patients they define. */
function byPatientsFirst(a: { path: string }, b: { path: string }): number {
  const pa = /(^|\/)patients?[^/]*$/.test(a.path) ? 0 : 1;
  const pb = /(^|\/)patients?[^/]*$/.test(b.path) ? 0 : 1;
  if (pa !== pb) return pa - pb;
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

/** A DICOM JSON attribute's first value as text ('' when absent). */
function text(obj: DicomJson, tag: string): string {
  const v = jsonValue(obj, tag);
  return v === undefined || v === null ? '' : String(v);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** An instant as the institution's local calendar day, YYYYMMDD (StudyDate is local to the hospital). */
export function localDateOf(instant: string, timezone: string, where: string): string {
  const t = Date.parse(instant);
  if (Number.isNaN(t))
    throw new TributaryError(`${where}: not an ISO 8601 instant`, {
      code: 'invalid',
      location: where,
      nonRetryable: true,
    });
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone: timezone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).formatToParts(new Date(t));
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  return `${part('year')}${part('month')}${part('day')}`;
}

interface DicomWebInstance {
  series: string;
  seriesNumber: number;
  sop: string;
  number: number;
}

/** A DICOMweb study's name in pages and messages: its position in the listing, never its UID. */
function studyPageName(index: number): string {
  return `dicomweb/study-${String(index + 1).padStart(5, '0')}`;
}

function studyOf(path: string): string {
  const m = /^(?:imaging\/)?(study-[^/]+)\//.exec(path);
  return m ? m[1] : path;
}

function httpError(status: number, retryAfter: string | null, where: string): TributaryError {
  const retryable = status === 429 || status === 408 || status >= 500;
  const err = new TributaryError(`${where}: HTTP ${status}`, {
    code:
      status === 429
        ? 'throttled'
        : status >= 500
          ? 'transient'
          : status === 404
            ? 'not-found'
            : 'processing',
    location: where,
    nonRetryable: !retryable,
  });
  (err as TributaryError & { httpStatus?: number }).httpStatus = status;
  const seconds = retryAfter ? Number(retryAfter) : NaN;
  if (Number.isFinite(seconds) && seconds >= 0)
    (err as TributaryError & { retryAfterMs?: number }).retryAfterMs = Math.min(seconds, 60) * 1000;
  return err;
}

/** The HTTP status of a failed call: fhir-kit-client's raw error or our httpError. */
function statusOf(e: unknown): number | undefined {
  const o = e as { response?: { status?: unknown }; httpStatus?: unknown } | undefined;
  const status = o?.response?.status ?? o?.httpStatus;
  return typeof status === 'number' ? status : undefined;
}

function fhirError(e: unknown, where: string): TributaryError {
  // Ours already (a failed SMART token request): keep its code and retryability.
  if (e instanceof TributaryError) return e;
  // fhir-kit-client throws Error & { response: { status, data }, config: { headers } }.
  const o = e as { response?: { status?: number }; config?: { headers?: Headers } };
  const status = o?.response?.status;
  if (typeof status === 'number') {
    const h = o.config?.headers;
    const retryAfter = h instanceof Headers ? h.get('retry-after') : null;
    return httpError(status, retryAfter, where);
  }
  const err = toError(e);
  return new TributaryError(`${where}: request failed (${err.name})`, { code: 'transient', location: where });
}
