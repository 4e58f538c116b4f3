import crypto from 'node:crypto';
import { TributaryError, toError } from '../platform/errors';
import { readBodyWithin } from '../platform/http-body';

/**
 * DICOMweb (PS3.18) client: QIDO-RS search, WADO-RS retrieve (multipart/related; type="application/dicom") and
 * STOW-RS store. `baseUrl` is the DICOMweb root, e.g. `${ORTHANC_URL}/dicom-web`. Errors name the operation and the
 * HTTP status, never a query value (queries can carry patient IDs).
 */

/** One DICOM JSON (PS3.18 F.2) object: tag → { vr, Value }. */
export type DicomJson = Record<string, { vr: string; Value?: unknown[] }>;

export interface StoreResult {
  stored: string[];
  failed: { sopInstanceUid?: string; reason?: number }[];
}

export interface DicomWebClient {
  searchStudies(query?: Record<string, string>): Promise<DicomJson[]>;
  searchSeries(studyUid: string, query?: Record<string, string>): Promise<DicomJson[]>;
  searchInstances(studyUid: string, query?: Record<string, string>): Promise<DicomJson[]>;
  retrieveInstance(studyUid: string, seriesUid: string, sopInstanceUid: string): Promise<Buffer>;
  /** Every instance of a study (or of one series of it). */
  retrieveInstances(studyUid: string, seriesUid?: string): Promise<Buffer[]>;
  storeInstances(files: Buffer[]): Promise<StoreResult>;
}

export interface DicomWebClientOptions {
  headers?: Record<string, string>;
  timeoutMs?: number;
  /** The largest WADO-RS response read (a whole-slide image runs to gigabytes); larger ones are refused by size. */
  maxBodyBytes?: number;
}

/** The first value of a tag in a DICOM JSON object. */
export function jsonValue(obj: DicomJson, tag: string): unknown {
  return obj[tag.toUpperCase()]?.Value?.[0];
}

export function createDicomWebClient(baseUrl: string, options: DicomWebClientOptions = {}): DicomWebClient {
  const root = baseUrl.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 60_000;

  async function request(operation: string, url: string, init: RequestInit): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(url, {
        ...init,
        headers: { ...options.headers, ...(init.headers as Record<string, string>) },
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      throw new TributaryError(
        `DICOMweb ${operation}: cannot reach the server (${toError(e).message.slice(0, 80)})`,
        { code: 'transient', cause: e },
      );
    }
    if (!res.ok) {
      await res.arrayBuffer().catch(() => undefined);
      const err = new TributaryError(`DICOMweb ${operation}: HTTP ${res.status}`, {
        code:
          res.status === 429
            ? 'throttled'
            : res.status >= 500
              ? 'transient'
              : res.status === 404
                ? 'not-found'
                : 'processing',
        nonRetryable: res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429,
      });
      // Retry-After in seconds, for callers that schedule the retry (activities/boundary.ts: nextRetryDelay).
      const seconds = Number(res.headers.get('retry-after') ?? NaN);
      if (Number.isFinite(seconds) && seconds >= 0)
        (err as TributaryError & { retryAfterMs?: number }).retryAfterMs = Math.min(seconds, 60) * 1000;
      throw err;
    }
    return res;
  }

  async function qido(
    operation: string,
    path: string,
    query: Record<string, string> = {},
  ): Promise<DicomJson[]> {
    const qs = new URLSearchParams(query).toString();
    const res = await request(operation, `${root}${path}${qs ? `?${qs}` : ''}`, {
      headers: { Accept: 'application/dicom+json' },
    });
    if (res.status === 204) return [];
    const text = await res.text();
    if (!text.trim()) return [];
    const body: unknown = JSON.parse(text);
    if (!Array.isArray(body))
      throw new TributaryError(`DICOMweb ${operation}: response is not a JSON array`, { code: 'structure' });
    return body as DicomJson[];
  }

  async function wado(operation: string, path: string): Promise<Buffer[]> {
    const res = await request(operation, `${root}${path}`, {
      headers: { Accept: 'multipart/related; type="application/dicom"' },
    });
    const contentType = res.headers.get('content-type') ?? '';
    const body = await readBodyWithin(res, options.maxBodyBytes ?? Infinity, `DICOMweb ${operation}`);
    return parseMultipart(body, contentType, `DICOMweb ${operation}`);
  }

  return {
    searchStudies: (query) => qido('search studies', '/studies', query),
    searchSeries: (studyUid, query) =>
      qido('search series', `/studies/${encodeURIComponent(studyUid)}/series`, query),
    searchInstances: (studyUid, query) =>
      qido('search instances', `/studies/${encodeURIComponent(studyUid)}/instances`, query),
    async retrieveInstance(studyUid, seriesUid, sopInstanceUid) {
      const parts = await wado(
        'retrieve instance',
        `/studies/${encodeURIComponent(studyUid)}/series/${encodeURIComponent(seriesUid)}/instances/${encodeURIComponent(sopInstanceUid)}`,
      );
      if (parts.length !== 1)
        throw new TributaryError(`DICOMweb retrieve instance: expected 1 part, got ${parts.length}`, {
          code: 'structure',
        });
      return parts[0];
    },
    retrieveInstances(studyUid, seriesUid) {
      const path = `/studies/${encodeURIComponent(studyUid)}${seriesUid ? `/series/${encodeURIComponent(seriesUid)}` : ''}`;
      return wado(seriesUid ? 'retrieve series' : 'retrieve study', path);
    },
    async storeInstances(files) {
      const boundary = `tributary-${crypto.randomBytes(12).toString('hex')}`;
      const parts: Buffer[] = [];
      for (const f of files)
        parts.push(
          Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
          f,
          Buffer.from('\r\n'),
        );
      parts.push(Buffer.from(`--${boundary}--\r\n`));
      const res = await request('store', `${root}/studies`, {
        method: 'POST',
        headers: {
          'Content-Type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
          Accept: 'application/dicom+json',
        },
        body: Buffer.concat(parts),
      });
      const text = await res.text();
      const body = (text.trim() ? JSON.parse(text) : {}) as Record<string, { Value?: DicomJson[] }>;
      return {
        stored: (body['00081199']?.Value ?? []).map((r) => String(jsonValue(r, '00081155') ?? '')),
        failed: (body['00081198']?.Value ?? []).map((r) => ({
          sopInstanceUid: jsonValue(r, '00081155') as string | undefined,
          reason: jsonValue(r, '00081197') as number | undefined,
        })),
      };
    },
  };
}

/** Split a multipart/related body into its parts' bodies. */
export function parseMultipart(body: Buffer, contentType: string, where: string): Buffer[] {
  const m = /boundary="?([^";]+)"?/i.exec(contentType);
  if (!/^multipart\//i.test(contentType) || !m) {
    throw new TributaryError(
      `${where}: expected a multipart response, got '${contentType.split(';')[0].slice(0, 60)}'`,
      { code: 'structure' },
    );
  }
  const delimiter = Buffer.from(`--${m[1]}`);
  const parts: Buffer[] = [];
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const afterDelimiter = at + delimiter.length;
    if (body.subarray(afterDelimiter, afterDelimiter + 2).toString('latin1') === '--') break; // closing delimiter
    const headersEnd = body.indexOf('\r\n\r\n', afterDelimiter);
    if (headersEnd < 0)
      throw new TributaryError(`${where}: multipart part without headers`, { code: 'structure' });
    const next = body.indexOf(delimiter, headersEnd + 4);
    if (next < 0)
      throw new TributaryError(`${where}: multipart body without closing boundary`, { code: 'structure' });
    // The CRLF before the next delimiter belongs to the delimiter, not the part.
    const end = body[next - 2] === 0x0d && body[next - 1] === 0x0a ? next - 2 : next;
    parts.push(Buffer.from(body.subarray(headersEnd + 4, end)));
    at = next;
  }
  return parts;
}
