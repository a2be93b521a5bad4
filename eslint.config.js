import js from '@eslint/js';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';
import globals from 'globals';
import boundaries from './eslint/boundaries.js';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/imgly/**', 'out/**', '.cache/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { project: './tsconfig.json', tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  // The house rules (eslint/boundaries.js): rooms import inward, technologies stay in their adapters,
  // no import circle anywhere in src/, web/ never imports src/.
  {
    files: ['src/**/*.ts', 'web/**/*.{js,ts}'],
    plugins: { petcut: boundaries, 'import-x': importX },
    settings: { 'import-x/resolver': { typescript: { project: './tsconfig.json' } }, 'import-x/extensions': ['.ts', '.js'] },
    rules: {
      'petcut/rooms': ['error', { root: import.meta.dirname }],
      'petcut/technology': ['error', { root: import.meta.dirname }],
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', performance: 'readonly', URL: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', fetch: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly' } },
  },
  // Browser code: web/ (the widget, the demo page, the dashboard) runs in the shopper's or operator's browser.
  {
    files: ['web/**/*.js'],
    languageOptions: { sourceType: 'module', globals: { ...globals.browser } },
  },
);
