/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/packages', '<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
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
  testTimeout: 30000,
  maxWorkers: 2,
};
