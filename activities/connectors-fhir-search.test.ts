import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TributaryError } from '../platform/errors';
import { loadInstitutionRegistry } from '../platform/institutions';
import type { Institution } from '../schemas/institution';
import { createConnectors, DEFAULT_FHIR_TYPES, type FetchPageRequest } from './connectors';

/**
 * Which resource types a FHIR-API institution is asked for: the ones its CapabilityStatement lists, of the default
 * list or the registry's `ehr.types`, Patient first; a server without a CapabilityStatement is asked for all.
 */
const held: Record<string, string[]> = {
  Patient: ['p1'],
  AllergyIntolerance: ['a1', 'a2'],
  Observation: ['o1'],
  Basic: ['b1'],
};
let withMetadata = true;
let exportTypes: string | null = null;
const searched: string[] = [];
let server: http.Server;
let base: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const json = (body: unknown, status = 200) =>
      res.writeHead(status, { 'content-type': 'application/fhir+json' }).end(JSON.stringify(body));
    if (url.pathname === '/inst/fhir/metadata') {
      if (!withMetadata) return json({ resourceType: 'OperationOutcome' }, 404);
      return json({
        resourceType: 'CapabilityStatement',
        rest: [{ mode: 'server', resource: Object.keys(held).map((type) => ({ type })) }],
      });
    }
    if (url.pathname === '/inst/fhir/$export') {
      exportTypes = url.searchParams.get('_type');
      return res.writeHead(202, { 'content-location': `${base}/inst/fhir/status/1` }).end();
    }
    if (url.pathname === '/inst/fhir/status/1')
      return json({ transactionTime: '2024-01-01T00:00:00Z', output: [], error: [] });
    const type = url.pathname.split('/')[3];
    searched.push(type);
    if (!held[type]) return json({ resourceType: 'OperationOutcome' }, 404);
    return json({
      resourceType: 'Bundle',
      type: 'searchset',
      entry: held[type].map((id) => ({ resource: { resourceType: type, id } })),
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(() => {
  server?.close();
});

const fhirInst = loadInstitutionRegistry().institutions.find((i) => i.ehr?.format === 'fhir-api')!;

function request(cursor?: string, ehr: Partial<NonNullable<Institution['ehr']>> = {}): FetchPageRequest {
  return {
    endpoint: base,
    institution: { ...fhirInst, id: 'inst', ehr: { ...fhirInst.ehr!, ...ehr } },
    source: 'ehr',
    cursor,
    pageSize: 50,
  };
}

async function pagesOf(ehr: Partial<NonNullable<Institution['ehr']>> = {}): Promise<string[]> {
  const connectors = createConnectors({ ratePerSecond: 1000 });
  const files: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await connectors.fetchPage(request(cursor, ehr));
    files.push(
      `${page.sourceFile}:${page.parts[0]?.bytes.toString('utf8').split('\n').filter(Boolean).length}`,
    );
    cursor = page.nextCursor;
  } while (cursor);
  return files;
}

describe('FHIR connector, search mode: the types asked for', () => {
  it('asks for the default types the CapabilityStatement lists, Patient first, and no other', async () => {
    searched.length = 0;
    expect(await pagesOf()).toEqual([
      'Patient.ndjson:1',
      'Observation.ndjson:1',
      'AllergyIntolerance.ndjson:2',
    ]);
    expect(searched).toEqual(['Patient', 'Observation', 'AllergyIntolerance']);
    expect(DEFAULT_FHIR_TYPES[0]).toBe('Patient');
    expect(DEFAULT_FHIR_TYPES).not.toContain('Basic');
  });

  it("takes the registry's ehr.types instead of the default, narrowed the same way", async () => {
    searched.length = 0;
    expect(await pagesOf({ types: ['Patient', 'Basic', 'Immunization'] })).toEqual([
      'Patient.ndjson:1',
      'Basic.ndjson:1',
    ]);
    expect(searched).toEqual(['Patient', 'Basic']);
  });

  it('asks a server without a CapabilityStatement for every type, and a type it does not hold fails the source by name', async () => {
    withMetadata = false;
    try {
      await expect(pagesOf()).rejects.toThrow(TributaryError);
      expect(searched.at(-1)).toBe('Practitioner');
      await expect(pagesOf()).rejects.toThrow(/inst FHIR Practitioner search: HTTP 404/);
    } finally {
      withMetadata = true;
    }
  });

  it('resumes a cursor saved before the list grew (no types in it) on the list it was made with', async () => {
    searched.length = 0;
    const page = await createConnectors({ ratePerSecond: 1000 }).fetchPage(request(JSON.stringify({ t: 3 })));
    expect(page.sourceFile).toBe('Observation.ndjson');
    expect(JSON.parse(page.nextCursor!)).toEqual({ t: 4 });
  });

  it('asks a Bulk export for the same narrowed types', async () => {
    await createConnectors({ ratePerSecond: 1000, fhirMode: 'bulk' }).fetchPage(request());
    expect(exportTypes).toBe('Patient,Observation,AllergyIntolerance');
  });
});
