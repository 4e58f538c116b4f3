import crypto from 'node:crypto';
import type { TestProject } from 'vitest/node';
import { loadConfig } from '../../platform/config';
import { loadCodecKeys } from '../../platform/temporal';
import { acquireLease, ensureStack, releaseLease, type ServiceName } from '../../deploy/stack/stack';

/**
 * The integration tier's global setup: make sure the real services answer (starting the local stack when it is not
 * up, or using TEMPORAL_ADDRESS / KAFKA_BROKERS / DATABASE_URL / ORTHANC_URL / FHIR_SERVER_URL when set), and hand their addresses to
 * the test files as environment variables (set here, before the test workers fork) and through `inject('stack')`.
 *
 * Teardown stops only what this run started, and only when no other test run (another engineer's, in the same tree)
 * still holds a lease on the stack. TRIBUTARY_KEEP_STACK=1 leaves it running for the next run.
 */

export interface ProvidedStack {
  TEMPORAL_ADDRESS: string;
  TEMPORAL_NAMESPACE: string;
  KAFKA_BROKERS: string;
  DATABASE_URL: string;
  ORTHANC_URL: string;
  /** The FHIR base URL (`.../fhir`) of the stack's HAPI FHIR server, or FHIR_SERVER_URL. */
  FHIR_SERVER_URL: string;
  /** The temporal CLI, for @temporalio/testing's `existing-path` server; absent when Temporal is yours and no CLI is known. */
  TEMPORAL_BIN?: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    stack: ProvidedStack;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const config = loadConfig();
  const leaseId = `vitest-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  await acquireLease(config, leaseId);
  let started: ServiceName[] = [];
  try {
    const handle = await ensureStack(config, {
      progress: (m) => process.stderr.write(`[integration stack] ${m}\n`),
    });
    started = handle.started;
    // Once TEMPORAL_ADDRESS is set below, workers see Temporal as "external" and would not create the local codec
    // key; create it now so every test process reads the same one.
    loadCodecKeys(config);
    Object.assign(process.env, handle.env);
    project.provide('stack', handle.env as unknown as ProvidedStack);
  } catch (e) {
    await releaseLease(config, leaseId, [], { keep: true });
    throw e;
  }
  return async () => {
    const keep = process.env.TRIBUTARY_KEEP_STACK === '1';
    const stopped = await releaseLease(config, leaseId, keep ? [] : started, { keep });
    if (stopped.length)
      process.stderr.write(`[integration stack] stopped what this run started: ${stopped.join(', ')}\n`);
  };
}
