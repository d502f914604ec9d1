// Lint: the recommended rules of ESLint and typescript-eslint (syntax-based, no type information, so it
// stays fast), with a few relaxed where the code base deliberately does otherwise.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  {
    ignores: ['**/node_modules/', '**/dist/', 'coverage/', 'bench/results/', 'packages/core/src/mask-wasm-module.ts'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node }, ecmaVersion: 2023, sourceType: 'module' },
    rules: {
      // `_`-prefixed names are deliberately unused (placeholders, destructuring to omit a key).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
      // `import x = require(...)` is TypeScript's own CommonJS import.
      '@typescript-eslint/no-require-imports': ['error', { allowAsImport: true }],
    },
  },
  {
    // Node's global WebSocket may be shadowed: scripts load ours (or ws) under that name.
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    rules: { 'no-redeclare': ['error', { builtinGlobals: false }] },
  },
  {
    // A module augmentation must repeat every type parameter of the interface it merges with.
    files: ['packages/fastify/src/fastify-types.ts'],
    rules: { '@typescript-eslint/no-unused-vars': ['error', { varsIgnorePattern: '.', argsIgnorePattern: '^_' }] },
  },
  {
    // Type tests declare values only for their types.
    files: ['**/*.test-d.ts'],
    rules: { '@typescript-eslint/no-unused-vars': 'off', '@typescript-eslint/no-this-alias': 'off' },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Tests model DOM-style classes by declaration merging, as lib.dom does, and run as CommonJS under jest.
    files: ['**/test/**', 'test/**'],
    rules: {
      '@typescript-eslint/no-require-imports': 'off',
      '@typescript-eslint/no-unsafe-declaration-merging': 'off',
      '@typescript-eslint/no-empty-object-type': 'off',
    },
  },
);
