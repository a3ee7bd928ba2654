/**
 * The part of `common/` that workflows may import: no zod and nothing heavy at module level. A workflow's modules
 * are instantiated again for every workflow run (the SDK's reusable V8 context shares only its own modules), so what
 * they import is paid for in every workflow task; ESLint keeps `workflows/` on this module (types may still come
 * from `common/index.ts` with `import type`).
 */
export * from './constants';
export * from './ids';
export * from './search-attributes';
export * from './turn-input';
