// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import { builtinModules } from 'node:module';

export default tseslint.config(
  {
    ignores: ['node_modules/**', '.data/**', '.tools/**', 'dist/**', 'eslint.config.mjs', 'bench/workflow-streams/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'import-x/no-cycle': 'error',
    },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: no Node builtins, no I/O clients.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            ...builtinModules.map((name) => ({ name, message: 'Workflows run in a deterministic sandbox.' })),
            ...builtinModules.map((name) => ({
              name: `node:${name}`,
              message: 'Workflows run in a deterministic sandbox.',
            })),
            { name: 'pg', message: 'Workflows must not do I/O; call an activity.' },
            { name: 'openai', message: 'Workflows must not do I/O; call an activity.' },
          ],
        },
      ],
      // A workflow's modules are instantiated again for every workflow run: what they import costs every workflow
      // task. Validation (zod) belongs at the client and activity boundaries; values from common/ come through its
      // zod-free part, common/sandbox.ts (types may come from anywhere).
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'zod', message: 'No zod in workflows: check at the boundary.', allowTypeImports: true },
            { name: '../common', message: "Import values from '../common/sandbox'.", allowTypeImports: true },
            { name: '../common/index', message: "Import values from '../common/sandbox'.", allowTypeImports: true },
          ],
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
