/** What both projects share. */
const base = {
  testEnvironment: 'node',
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  // @nestjs/* (v12) and `cookie` 2 ship ESM only; jest on Node 20 runs CJS, so swc compiles those files too.
  // @fastify/cookie 11 loads `cookie` with a dynamic import(), which jest's CJS runtime refuses without
  // --experimental-vm-modules; compiled by swc, that import() becomes a require().
  transformIgnorePatterns: ['/node_modules/(?!(@nestjs/|@fastify/cookie/|cookie/))'],
  transform: {
    '^.+\\.(t|j)sx?$': [
      '@swc/jest',
      {
        jsc: {
          target: 'es2022',
          parser: { syntax: 'typescript', decorators: true },
          transform: { legacyDecorator: true, decoratorMetadata: true },
        },
        module: { type: 'commonjs' },
      },
    ],
  },
  moduleNameMapper: {
    '^@wskit/(core|express|fastify|koa|nest)$': '<rootDir>/packages/$1/src/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
};

// The Nest adapter's tests once more against Nest 11 (test/nest11 installs it beside the root's Nest 12):
// every @nestjs/* import, from the tests, the adapter and Nest itself, resolves there.
const NEST11_TESTS = ['express-gateways', 'gateway-guards', 'validation-pipe', 'fastify-and-lifecycle', 'upgrade-pipeline'];

/** @type {import('jest').Config} */
export default {
  testTimeout: 30000,
  maxWorkers: 2,
  projects: [
    {
      ...base,
      roots: ['<rootDir>/packages', '<rootDir>/test'],
      testMatch: ['**/*.test.ts'],
      testPathIgnorePatterns: [...base.testPathIgnorePatterns, '/test/nest11/'],
    },
    {
      ...base,
      displayName: 'nest 11',
      roots: ['<rootDir>/packages/nest/test', '<rootDir>/test/nest11'],
      testMatch: [...NEST11_TESTS.map((name) => `**/packages/nest/test/${name}.test.ts`), '**/test/nest11/*.test.ts'],
      // Nest 11 is CommonJS: nothing there to compile.
      transformIgnorePatterns: ['/test/nest11/node_modules/', ...base.transformIgnorePatterns],
      moduleNameMapper: {
        '^@nestjs/([^/]+)(.*)$': '<rootDir>/test/nest11/node_modules/@nestjs/$1$2',
        ...base.moduleNameMapper,
      },
    },
  ],
};
