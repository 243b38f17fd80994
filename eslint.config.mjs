// ESLint with typescript-eslint's type-aware rules: the promise mistakes that
// cost a controller its process (a floating promise that rejects, an async
// handler where a void callback is expected), and no unused code.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/results/**'] },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.base],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // node:test's test() returns a promise the runner awaits itself.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', name: ['test', 'it', 'describe', 'suite'], package: 'node:test' }] },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false, attributes: false } }],
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // One convention for private members (issue 10, item 7): TypeScript's `private`, named
      // apart from any public getter it backs (`private isSynced` behind `get synced()`).
      '@typescript-eslint/prefer-readonly': 'error',
      'no-restricted-syntax': [
        'error',
        {
          selector: 'PrivateIdentifier',
          message: 'Use a TypeScript `private` member, not an ECMAScript `#` private name (one convention, see eslint.config.mjs).',
        },
      ],
    },
  },
);
