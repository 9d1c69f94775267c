// Type-aware lint over engine/ and test/ (the compiled dist/ is not linted), plus the layer rule
// (eslint/layers.js: engine/ folders import only from the layers below theirs).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { layersRule } from './eslint/layers.js';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bin/**', '.runbook/**', 'eslint.config.js', 'eslint/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { runbook: { rules: { layers: layersRule } } },
    rules: {
      'no-eval': 'error',
      'no-new-func': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/no-floating-promises': 'error',
      'runbook/layers': 'error',
    },
  },
  {
    // The house (issue 13): one job per file, functions a reader can hold; checked, not hoped for.
    files: ['engine/**/*.ts'],
    rules: {
      'max-lines': ['error', { max: 500 }],
      'max-lines-per-function': ['error', { max: 120 }],
    },
  },
  {
    // Commands are built by construction (issue 12): in engine/modules a command reaches a plan only
    // through exec()/local()/waitFor() (module.ts), which take the ShellText of sh`…` (engine/shell/sh.ts).
    files: ['engine/modules/**/*.ts'],
    ignores: ['engine/modules/module.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "Property[key.name='cmd'][value.type!='Literal']",
          message: 'build commands with exec(sh`…`), local(sh`…`) or waitFor(…, sh`…`) from module.ts',
        },
        {
          selector: "CallExpression[callee.name='raw'][arguments.0.type!='Literal']",
          message: 'raw() takes a string literal here: interpolate values with sh`…` so they are quoted',
        },
      ],
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/shell/quote.js'], message: 'quote with sh`…` (engine/shell/sh.ts), not by hand' }] }],
    },
  },
);
