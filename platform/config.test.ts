import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig, parseAtEdge } from './config';
import { TributaryError } from './errors';

describe('loadConfig', () => {
  it('defaults every service to the local stack on loopback, with paths anchored at cwd', () => {
    const config = loadConfig({ env: {}, cwd: '/srv/tributary' });
    expect(config.temporal).toMatchObject({
      address: '127.0.0.1:7233',
      external: false,
      uiPort: 8233,
      namespace: 'default',
    });
    expect(config.kafka).toEqual({ brokers: ['127.0.0.1:19092'], external: false });
    expect(config.database).toEqual({
      url: 'postgres://tributary@127.0.0.1:15432/tributary',
      external: false,
    });
    expect(config.orthanc).toEqual({ url: 'http://127.0.0.1:18042', external: false, dicomPort: 14242 });
    expect(config.paths.stack).toBe('/srv/tributary/.stack');
    expect(config.paths.logs).toBe('/srv/tributary/.stack/logs');
  });

  it('uses services the user names, and port overrides for the local ones', () => {
    const config = loadConfig({
      env: {
        TEMPORAL_ADDRESS: 'temporal.example:7233',
        KAFKA_BROKERS: 'a:9092, b:9092',
        TRIBUTARY_PG_PORT: '25432',
        TRIBUTARY_CACHE_DIR: '/tmp/c',
      },
      cwd: '/x',
    });
    expect(config.temporal).toMatchObject({ address: 'temporal.example:7233', external: true });
    expect(config.kafka).toEqual({ brokers: ['a:9092', 'b:9092'], external: true });
    expect(config.database.url).toBe('postgres://tributary@127.0.0.1:25432/tributary');
    expect(config.paths.cache).toBe(path.resolve('/tmp/c'));
  });

  it('names each bad field and never echoes its value', () => {
    let thrown: unknown;
    try {
      loadConfig({
        env: {
          TRIBUTARY_KAFKA_PORT: 'seventy',
          ORTHANC_URL: 'not a url secret-value',
          TRIBUTARY_LOG_LEVEL: 'loud',
        },
      });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(TributaryError);
    const message = (thrown as Error).message;
    expect(message).toMatch(/^environment is invalid:/);
    expect(message).toMatch(/^\s+TRIBUTARY_KAFKA_PORT: /m);
    expect(message).toMatch(/^\s+ORTHANC_URL: /m);
    expect(message).toMatch(/^\s+TRIBUTARY_LOG_LEVEL: /m);
    expect(message).not.toContain('secret-value');
    expect(message).not.toContain('seventy');
  });

  it('parses the ingestion settings once: connector modes and step threads, with their defaults', () => {
    const defaults = loadConfig({ env: {} }).env;
    expect(defaults).toMatchObject({ TRIBUTARY_FHIR_MODE: 'search', TRIBUTARY_IMAGING_MODE: 'files' });
    expect(defaults.TRIBUTARY_STEP_THREADS).toBeUndefined();
    expect(
      loadConfig({
        env: { TRIBUTARY_FHIR_MODE: 'bulk', TRIBUTARY_IMAGING_MODE: 'dicomweb', TRIBUTARY_STEP_THREADS: '0' },
      }).env,
    ).toMatchObject({
      TRIBUTARY_FHIR_MODE: 'bulk',
      TRIBUTARY_IMAGING_MODE: 'dicomweb',
      TRIBUTARY_STEP_THREADS: 0,
    });
    expect(() => loadConfig({ env: { TRIBUTARY_FHIR_MODE: 'export' } })).toThrow(/TRIBUTARY_FHIR_MODE/);
    expect(() => loadConfig({ env: { TRIBUTARY_STEP_THREADS: '1.5' } })).toThrow(/TRIBUTARY_STEP_THREADS/);
    expect(() => loadConfig({ env: { TRIBUTARY_STEP_THREADS: '-1' } })).toThrow(/TRIBUTARY_STEP_THREADS/);
  });

  it('rejects ports out of range', () => {
    expect(() => loadConfig({ env: { TRIBUTARY_TEMPORAL_PORT: '70000' } })).toThrow(
      /TRIBUTARY_TEMPORAL_PORT/,
    );
  });
});

describe('parseAtEdge', () => {
  const schema = z.object({
    patient: z.object({ birthDate: z.string().regex(/^\d{4}-\d{2}-\d{2}$/) }),
    count: z.number().int(),
  });

  it('returns parsed data', () => {
    expect(parseAtEdge(schema, { patient: { birthDate: '2000-01-02' }, count: 3 }, 'x')).toEqual({
      patient: { birthDate: '2000-01-02' },
      count: 3,
    });
  });

  it('names the source and the JSON path of each bad field, marks it non-retryable, and hides the value', () => {
    let thrown: unknown;
    try {
      parseAtEdge(schema, { patient: { birthDate: '02/01/1961' }, count: 1.5 }, 'feed envelope');
    } catch (e) {
      thrown = e;
    }
    const err = thrown as TributaryError;
    expect(err).toBeInstanceOf(TributaryError);
    expect(err.message).toMatch(/^feed envelope is invalid:/);
    expect(err.message).toContain('patient.birthDate:');
    expect(err.message).toContain('count:');
    expect(err.message).not.toContain('1961');
    expect(err).toMatchObject({ code: 'invalid', location: 'feed envelope', nonRetryable: true });
  });
});
