// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';

// ---- Layering of packages/gatehouse/src (ARCHITECTURE.md explains it) ----
// The core (the folders below) knows nothing of the HTTP framework and never imports the
// adapter (http/, admin/), the handlers' context (context.ts) or the composition root
// (gatehouse.ts; the entry points index.ts and testing.ts, with internals.ts behind them).
// Inside the core, a folder imports only from layers below its own.
const SRC = 'packages/gatehouse/src';
/** Core folders, lowest layer first. Folders in one layer do not import each other. */
const CORE_LAYERS = [
  ['config', 'observability'],
  ['session'],
  ['tenants'],
  ['oidc', 'tokens', 'proxy'],
];
/** Files a folder may import from a layer above it: leaves that import no folder of src. */
const UPWARD_LEAVES = {
  // The signing-key config schema belongs to tokens/ but is part of the config file's schema.
  // The one provider model is part of the config file's schema as well as the admin API's.
  config: ['tokens/signing-key-config.ts', 'tenants/provider-schema.ts'],
};
/** Root modules below every layer: they import no folder of src (only each other). */
const FOUNDATION = ['errors.ts', 'digest.ts', 'clock.ts'];
/** The HTTP framework: only the adapter and the composition root import it. */
const FRAMEWORK_PACKAGES = ['express', 'express-session', 'connect-redis', 'helmet', 'pino-http'];

/** Problems are raised only through the catalogue (errors.ts `problem`, codes in problems.ts). */
const RAISE_THROUGH_CATALOGUE = {
  selector: "NewExpression[callee.name='GatehouseError']",
  message: "Raise problems with problem('<code>') (errors.ts); codes live in problems.ts.",
};

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `no-restricted-imports` options for one core folder. */
function coreImportRule(folder) {
  const index = CORE_LAYERS.findIndex((layer) => layer.includes(folder));
  const notBelow = CORE_LAYERS.slice(index)
    .flat()
    .filter((name) => name !== folder);
  const leaves = UPWARD_LEAVES[folder] ?? [];
  const patterns = [
    {
      regex: '^(?:\\.\\./)+(?:http|admin)/',
      message: 'The core does not import the Express adapter (http/, admin/).',
    },
    {
      regex: '^(?:\\.\\./)+(?:context|gatehouse|index|internals|testing)\\.ts$',
      message:
        'The core takes narrow dependencies, not the handlers’ context or the composition root.',
    },
    ...notBelow.map((name) => {
      const allowed = leaves
        .filter((leaf) => leaf.startsWith(`${name}/`))
        .map((leaf) => escape(leaf.slice(name.length + 1)));
      const except = allowed.length > 0 ? `(?!(?:${allowed.join('|')})$)` : '';
      return {
        regex: `^(?:\\.\\./)+${name}/${except}`,
        message: `${folder}/ does not import ${name}/, which is in its own layer or above (ARCHITECTURE.md).`,
      };
    }),
  ];
  const paths = FRAMEWORK_PACKAGES.map((name) => ({
    name,
    message: 'The core knows nothing of the HTTP framework: this belongs in http/.',
  }));
  return ['error', { paths, patterns }];
}

const layering = [
  ...CORE_LAYERS.flat().map((folder) => ({
    files: [`${SRC}/${folder}/**/*.ts`],
    rules: {
      'no-restricted-imports': coreImportRule(folder),
      'no-restricted-syntax': [
        'error',
        {
          selector: 'TSModuleDeclaration[id.value=/^express/]',
          message: 'The core knows nothing of the HTTP framework: this belongs in http/.',
        },
        RAISE_THROUGH_CATALOGUE,
      ],
    },
  })),
  {
    files: FOUNDATION.map((file) => `${SRC}/${file}`),
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: FRAMEWORK_PACKAGES.map((name) => ({
            name,
            message: 'Foundation modules are framework-free.',
          })),
          patterns: [
            {
              regex: '^\\./(?:[^/]+/|(?:context|gatehouse|index|internals|testing)\\.ts$)',
              message: 'Foundation modules import no folder of src, only each other.',
            },
          ],
        },
      ],
    },
  },
  {
    // admin/ builds on http/'s session access and CSRF check, never the reverse: the composition
    // root builds the admin router and hands it to the app.
    files: [`${SRC}/http/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?:\\.\\./)+admin/',
              message:
                'http/ does not import admin/: gatehouse.ts hands the admin router to the app.',
            },
          ],
        },
      ],
    },
  },
];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'test-results/**', 'playwright-report/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': [
        'error',
        { checksVoidReturn: { arguments: false } },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      // In-memory implementations of async store interfaces legitimately have nothing to await.
      '@typescript-eslint/require-await': 'off',
      eqeqeq: ['error', 'always'],
      'no-console': ['error', { allow: ['warn', 'error'] }],
    },
  },
  {
    files: [
      'apps/web/**/*.{ts,tsx}',
      'packages/{client,react}/**/*.{ts,tsx}',
      'examples/*/**/*.{ts,tsx}',
    ],
    languageOptions: { globals: { ...globals.browser } },
    plugins: { 'react-hooks': reactHooks },
    rules: reactHooks.configs.recommended.rules,
  },
  {
    // Problems are raised only through the catalogue, so every code has one status and message.
    files: ['packages/gatehouse/src/**/*.ts'],
    ignores: ['packages/gatehouse/src/errors.ts'],
    rules: { 'no-restricted-syntax': ['error', RAISE_THROUGH_CATALOGUE] },
  },
  // After the rule above: the core folders' blocks repeat its selector next to their own.
  ...layering,
  { files: ['**/*.js'], extends: [tseslint.configs.disableTypeChecked] },
);
