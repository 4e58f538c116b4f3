import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FhirResource } from '../mappers/types';

/**
 * A FHIR endpoint standing in for a server, for the failure modes a real one cannot be made to produce on demand (the
 * stack's HAPI FHIR server is what the integration tier publishes to): it takes transaction and batch bundles of
 * PUTs, refuses a bundle over its entry limit as Azure's does, checks references on write as HAPI does by default (a
 * reference must name a stored resource or one in the same bundle), and answers per entry. Its refusals quote a
 * value back, as real servers' diagnostics do, to show that none reaches our errors.
 */
export interface FhirEndpoint {
  url: string;
  stored: Map<string, FhirResource>;
  bundles: number[];
  limit: number;
  /** Status to answer, per entry, for resources whose id starts with the key. */
  entryStatus: Map<string, string>;
  /** Status for the whole next bundle. */
  nextBundleStatus?: number;
  close(): Promise<void>;
}

function referencesOf(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) referencesOf(v, out);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string') out.push(v);
      else referencesOf(v, out);
    }
  }
  return out;
}

export async function startFhirEndpoint(limit: number): Promise<FhirEndpoint> {
  const ep = { stored: new Map(), bundles: [], limit, entryStatus: new Map() } as unknown as FhirEndpoint;
  const refuse = (res: http.ServerResponse, status: number, diagnostics: string) => {
    res.writeHead(status, { 'content-type': 'application/fhir+json' });
    res.end(
      JSON.stringify({
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: status === 413 ? 'too-costly' : 'processing', diagnostics }],
      }),
    );
  };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const bundle = JSON.parse(body) as { type: string; entry: { resource: FhirResource }[] };
      if (ep.nextBundleStatus) {
        const status = ep.nextBundleStatus;
        ep.nextBundleStatus = undefined;
        return refuse(res, status, 'busy with Patient Thornbury');
      }
      if (bundle.entry.length > ep.limit)
        return refuse(
          res,
          413,
          `Bundle has ${bundle.entry.length} entries; Thornbury's limit is ${ep.limit}`,
        );
      const inBundle = new Set(bundle.entry.map((e) => `${e.resource.resourceType}/${e.resource.id}`));
      const statuses = bundle.entry.map((e) => {
        const forced = [...ep.entryStatus].find(([prefix]) => String(e.resource.id).startsWith(prefix));
        if (forced) return forced[1];
        const dangling = referencesOf(e.resource).find((r) => !ep.stored.has(r) && !inBundle.has(r));
        return dangling ? '400 Bad Request' : '201 Created';
      });
      if (bundle.type === 'transaction' && statuses.some((s) => !s.startsWith('2')))
        return refuse(
          res,
          400,
          'Resource Patient/Thornbury not found, specified in path: Observation.subject',
        );
      ep.bundles.push(bundle.entry.length);
      bundle.entry.forEach((e, i) => {
        if (statuses[i].startsWith('2'))
          ep.stored.set(`${e.resource.resourceType}/${e.resource.id}`, e.resource);
      });
      res.writeHead(200, { 'content-type': 'application/fhir+json' });
      res.end(
        JSON.stringify({
          resourceType: 'Bundle',
          type: `${bundle.type}-response`,
          entry: statuses.map((status) => ({ response: { status } })),
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  ep.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fhir`;
  ep.close = () => new Promise((r) => server.close(() => r()));
  return ep;
}
