// ESLint's and typescript-eslint's recommended rules that need no type information (fast: no type-checked
// program). Formatting is Prettier's job, not ESLint's.
'use strict';
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');
const globals = require('globals');
const { defineConfig, globalIgnores } = require('eslint/config');

// A leading underscore marks a parameter or destructured value left unused on purpose (an interface's argument,
// a field dropped from a copy); an unused caught error needs no name check.
const unusedVars = { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', caughtErrors: 'none' };

module.exports = defineConfig([
  globalIgnores(['dist/', 'node_modules/', '.test-artifacts/', 'bench/runs/', 'demo/']),
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommended],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', unusedVars],
      // Lazy require() keeps `require` of the package and of the CLI cheap (tfjs, onnxruntime, Node-RED load on use).
      '@typescript-eslint/no-require-imports': 'off',
      // Node-RED node constructors are plain functions that keep `this` as `node` for their callbacks (its idiom).
      '@typescript-eslint/no-this-alias': 'off',
      // A variable read in a callback defined before its one assignment cannot be const.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    // Tests and benchmark scripts build malformed and hostile objects on purpose.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['**/*.js'],
    extends: [js.configs.recommended],
    languageOptions: { sourceType: 'commonjs', globals: globals.node },
    rules: { 'no-unused-vars': ['error', unusedVars] },
  },
  {
    // The teaching page's script runs in the browser.
    files: ['nodes/hff-teach-ui/page/**/*.js'],
    languageOptions: { sourceType: 'script', globals: globals.browser },
  },
]);
