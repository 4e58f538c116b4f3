// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = builtinModules.flatMap((m) => [m, `node:${m}`]);

export default tseslint.config(
  { ignores: ['**/*.cjs', 'node_modules/**', '.stack/**', 'data/**', 'out/**', 'tests/fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly' },
    },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
      'no-empty': ['error', { allowEmptyCatch: false }],
    },
  },
  {
    // Workflow code is replayed: it must be deterministic. No Node builtins, no clocks, no randomness, no I/O,
    // and activities only as types (proxyActivities gives the callable side).
    files: ['workflows/**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({
            name,
            message: 'Workflows are deterministic: no Node builtins.',
          })),
          patterns: [
            {
              group: ['../activities/*', '../activities'],
              allowTypeImports: true,
              message: 'Import activities with `import type` only.',
            },
            {
              group: [
                '../platform/*',
                '../deid/*',
                '../imaging/*',
                '../mappers/*',
                '../intake/*',
                '../annotation/*',
                '../cli/*',
                'fs',
                'crypto',
                'pg',
                'kafkajs',
                'sharp',
              ],
              message: 'Workflows may import only @temporalio/workflow, schemas and activity types.',
            },
          ],
        },
      ],
      'no-restricted-properties': [
        'error',
        {
          object: 'Date',
          property: 'now',
          message:
            'Use workflow time (Date in workflow context is replay-safe only via new Date() from the sandbox); never Date.now() here.',
        },
        {
          object: 'Math',
          property: 'random',
          message: 'No randomness in workflows: use uuid4() from @temporalio/workflow.',
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'setTimeout', message: 'Use sleep() from @temporalio/workflow.' },
        { name: 'setInterval', message: 'Use sleep() in a loop from @temporalio/workflow.' },
        { name: 'fetch', message: 'No I/O in workflows: do it in an activity.' },
        { name: 'process', message: 'No process access in workflows.' },
        { name: 'require', message: 'No dynamic requires in workflows.' },
      ],
    },
  },
);
