import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { envSchema, type Env } from '../schemas/env';
import { TributaryError } from './errors';

/** Turn zod issues into lines a person can act on: `FIELD: reason`. Values are never echoed. */
export function formatZodError(error: z.ZodError, source: string): string {
  const lines = error.issues.map((i) => `  ${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
  return `${source} is invalid:\n${lines.join('\n')}`;
}

/** Parse with a schema at an edge, throwing a TributaryError that names the source and each bad field. */
export function parseAtEdge<S extends z.ZodTypeAny>(schema: S, input: unknown, source: string): z.infer<S> {
  const result = schema.safeParse(input);
  if (!result.success) {
    throw new TributaryError(formatZodError(result.error, source), {
      code: 'invalid',
      location: source,
      nonRetryable: true,
    });
  }
  return result.data;
}

export interface Paths {
  root: string;
  data: string;
  stack: string;
  cache: string;
  keys: string;
  logs: string;
}

export interface Config {
  env: Env;
  paths: Paths;
  temporal: { address: string; namespace: string; external: boolean; uiPort: number };
  kafka: { brokers: string[]; external: boolean };
  database: { url: string; external: boolean };
  orthanc: { url: string; external: boolean; dicomPort: number };
  /** The stack's FHIR server (its base URL, `.../fhir`): HAPI FHIR locally, or FHIR_SERVER_URL. */
  fhir: { url: string; external: boolean };
}

let cached: Config | undefined;

/** Load configuration from the environment once. `cwd` anchors the relative data and stack folders. */
export function loadConfig(options: { env?: NodeJS.ProcessEnv; cwd?: string; fresh?: boolean } = {}): Config {
  if (cached && !options.fresh && !options.env) return cached;
  const env = parseAtEdge(envSchema, options.env ?? process.env, 'environment');
  const root = options.cwd ?? process.cwd();
  const stack = path.resolve(root, env.TRIBUTARY_STACK_DIR);
  const cache = path.resolve(env.TRIBUTARY_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'tributary'));
  const config: Config = {
    env,
    paths: {
      root,
      data: path.resolve(root, env.TRIBUTARY_DATA_DIR),
      stack,
      cache,
      keys: path.join(stack, 'keys'),
      logs: path.join(stack, 'logs'),
    },
    temporal: {
      address: env.TEMPORAL_ADDRESS ?? `127.0.0.1:${env.TRIBUTARY_TEMPORAL_PORT}`,
      namespace: env.TEMPORAL_NAMESPACE,
      external: env.TEMPORAL_ADDRESS !== undefined,
      uiPort: env.TRIBUTARY_TEMPORAL_UI_PORT,
    },
    kafka: {
      brokers: (env.KAFKA_BROKERS ?? `127.0.0.1:${env.TRIBUTARY_KAFKA_PORT}`).split(',').map((b) => b.trim()),
      external: env.KAFKA_BROKERS !== undefined,
    },
    database: {
      url: env.DATABASE_URL ?? `postgres://tributary@127.0.0.1:${env.TRIBUTARY_PG_PORT}/tributary`,
      external: env.DATABASE_URL !== undefined,
    },
    orthanc: {
      url: env.ORTHANC_URL ?? `http://127.0.0.1:${env.TRIBUTARY_ORTHANC_HTTP_PORT}`,
      external: env.ORTHANC_URL !== undefined,
      dicomPort: env.TRIBUTARY_ORTHANC_DICOM_PORT,
    },
    fhir: {
      url: (env.FHIR_SERVER_URL ?? `http://127.0.0.1:${env.TRIBUTARY_FHIR_PORT}/fhir`).replace(/\/+$/, ''),
      external: env.FHIR_SERVER_URL !== undefined,
    },
  };
  if (!options.env) cached = config;
  return config;
}
