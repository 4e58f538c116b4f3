import { z } from 'zod';
import { fhirModeSchema, imagingModeSchema } from './ingest';

const port = (fallback: number) => z.coerce.number().int().min(1).max(65535).default(fallback);
const optionalUrl = z.string().url().optional();

/**
 * The process environment, parsed once at start-up. Services left unset are started locally by the stack
 * scripts on loopback; set TEMPORAL_ADDRESS, KAFKA_BROKERS, DATABASE_URL, ORTHANC_URL or FHIR_SERVER_URL to use your
 * own.
 */
export const envSchema = z.object({
  TRIBUTARY_DATA_DIR: z.string().min(1).default('./data'),
  TRIBUTARY_STACK_DIR: z.string().min(1).default('./.stack'),
  TRIBUTARY_CACHE_DIR: z.string().min(1).optional(),

  TEMPORAL_ADDRESS: z.string().min(1).optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_BIN: z.string().min(1).optional(),
  TRIBUTARY_TEMPORAL_PORT: port(7233),
  TRIBUTARY_TEMPORAL_UI_PORT: port(8233),

  KAFKA_BROKERS: z.string().min(1).optional(),
  TRIBUTARY_KAFKA_PORT: port(19092),
  TRIBUTARY_KAFKA_CONTROLLER_PORT: port(19093),

  DATABASE_URL: z.string().min(1).optional(),
  TRIBUTARY_PG_PORT: port(15432),

  ORTHANC_URL: optionalUrl,
  TRIBUTARY_ORTHANC_HTTP_PORT: port(18042),
  TRIBUTARY_ORTHANC_DICOM_PORT: port(14242),

  /** A FHIR server of yours for the stack (tests publish to it); unset: the stack's HAPI FHIR server. */
  FHIR_SERVER_URL: optionalUrl,
  TRIBUTARY_FHIR_PORT: port(18090),

  TRIBUTARY_CODEC_KEY: z.string().min(1).optional(),
  TRIBUTARY_CODEC_KEY_FILE: z.string().min(1).optional(),
  TRIBUTARY_DEID_KEY: z.string().min(1).optional(),
  TRIBUTARY_DEID_KEY_FILE: z.string().min(1).optional(),
  TRIBUTARY_STAGING_KEY: z.string().min(1).optional(),
  TRIBUTARY_STAGING_KEY_FILE: z.string().min(1).optional(),

  TRIBUTARY_INSTITUTIONS: z.string().min(1).optional(),
  TRIBUTARY_FHIR_MODE: fhirModeSchema.default('search'),
  TRIBUTARY_IMAGING_MODE: imagingModeSchema.default('files'),
  /**
   * The largest file a drop may hold and the largest WADO-RS response, in MiB: files are read whole, and a page in
   * mapping holds about 7 times its size (activities/connectors.ts).
   */
  TRIBUTARY_MAX_FILE_MB: z.coerce.number().int().min(1).max(1_000_000).default(256),
  /**
   * How much of a file drop one page holds, in MiB (fractions allowed): a page stops before its files pass it, and a
   * larger HIS CSV dump, HL7 v2 batch file or Apple Health export goes in pieces of about this size.
   */
  TRIBUTARY_PAGE_MB: z.coerce.number().positive().max(1_000_000).default(64),
  /** Publishing to a FHIR server (`ingest run --fhir-server`): entries per bundle, and the bundle type it takes. */
  TRIBUTARY_FHIR_BUNDLE_MAX: z.coerce.number().int().min(1).max(10_000).default(500),
  TRIBUTARY_FHIR_BUNDLE_TYPE: z.enum(['transaction', 'batch']).default('transaction'),
  /** Worker threads for mapping, validation and de-identification (activities/step-pool.ts); 0: the main thread. */
  TRIBUTARY_STEP_THREADS: z.coerce.number().int().min(0).max(64).optional(),

  TRIBUTARY_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
});

export type Env = z.infer<typeof envSchema>;
