import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { fileURLToPath } from 'node:url';
import type { DataConverter } from '@temporalio/common';
import { AesGcmPayloadCodec } from './codec';
import type { Config } from './config';
import { TributaryError } from './errors';
import { loadKey, parseKeyMaterial } from './keys';

export const FAILURE_CONVERTER_PATH = fileURLToPath(new URL('./failure-converter.cjs', import.meta.url));

/** Task queues. Imaging is separate so CPU-heavy pixel work cannot starve ingestion's I/O. */
export const TASK_QUEUES = { ingest: 'ingest', imaging: 'imaging' } as const;
export type TaskQueue = (typeof TASK_QUEUES)[keyof typeof TASK_QUEUES];

/**
 * The codec keys: TRIBUTARY_CODEC_KEY (a comma-separated list for rotation: the first encrypts, all decrypt), or
 * TRIBUTARY_CODEC_KEY_FILE, or on a local run a key generated once under `.stack/keys/codec.key`.
 */
export function loadCodecKeys(config: Config): Buffer[] {
  const fromEnv = config.env.TRIBUTARY_CODEC_KEY;
  if (fromEnv) return fromEnv.split(',').map((k, i) => parseKeyMaterial(k, `TRIBUTARY_CODEC_KEY[${i}]`));
  const local = !config.temporal.external;
  const { key } = loadKey({
    purpose: 'Temporal payload codec key',
    envName: 'TRIBUTARY_CODEC_KEY',
    fileEnvName: 'TRIBUTARY_CODEC_KEY_FILE',
    file: config.env.TRIBUTARY_CODEC_KEY_FILE,
    defaultFile: path.join(config.paths.keys, 'codec.key'),
    generate: local,
  });
  return [key];
}

export function createPayloadCodec(config: Config): AesGcmPayloadCodec {
  return new AesGcmPayloadCodec(loadCodecKeys(config));
}

/**
 * Every client and worker uses this converter: payloads are encrypted, and failure messages and stack traces are
 * moved into an encoded payload (encodeCommonAttributes) so they are encrypted too.
 */
export function createDataConverter(config: Config): DataConverter {
  return {
    payloadCodecs: [createPayloadCodec(config)],
    failureConverterPath: FAILURE_CONVERTER_PATH,
  };
}

export async function connectTemporal(config: Config): Promise<Connection> {
  try {
    return await Connection.connect({ address: config.temporal.address, connectTimeout: '10s' });
  } catch (e) {
    throw new TributaryError(
      `cannot reach Temporal at ${config.temporal.address}: ${(e as Error).message}. ` +
        (config.temporal.external
          ? 'Check TEMPORAL_ADDRESS.'
          : 'Start the local stack with `npx tributary stack up`.'),
      { code: 'transient', cause: e },
    );
  }
}

export async function createTemporalClient(config: Config, connection?: Connection): Promise<Client> {
  return new Client({
    connection: connection ?? (await connectTemporal(config)),
    namespace: config.temporal.namespace,
    dataConverter: createDataConverter(config),
  });
}
