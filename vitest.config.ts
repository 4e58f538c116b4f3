import { defineConfig } from 'vitest/config';

/**
 * Two tiers, both run by `npm test`:
 * - unit: no services, fast, parallel.
 * - integration: real Temporal, Kafka, Orthanc and PostgreSQL. Its global setup starts the local stack when it is
 *   not already up (or uses the services named by TEMPORAL_ADDRESS, KAFKA_BROKERS, ORTHANC_URL, DATABASE_URL).
 *   Files run one at a time: the machine has two cores and the services share them.
 */
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            '{schemas,mappers,deid,imaging,activities,workflows,intake,annotation,cli,platform,synth}/**/*.test.ts',
            'tests/unit/**/*.test.ts',
          ],
          testTimeout: 60_000,
          pool: 'forks',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts', 'tests/e2e/**/*.test.ts'],
          globalSetup: ['tests/integration/global-setup.ts'],
          testTimeout: 300_000,
          hookTimeout: 600_000,
          fileParallelism: false,
          pool: 'forks',
        },
      },
    ],
  },
});
