/**
 * The 'nest 11' jest project maps every @nestjs/* import to test/nest11/node_modules. This proves the mapping
 * reaches the adapter's test files (they would otherwise run against the root's Nest 12 without a sign).
 */
import { nestMajor } from '../../packages/nest/test/client-helpers.js';

test('the adapter tests in this project run on Nest 11', () => {
  expect(nestMajor).toBe(11);
  for (const name of ['common', 'core', 'websockets', 'platform-express', 'platform-fastify']) {
    const version = (require(`@nestjs/${name}/package.json`) as { version: string }).version;
    expect(`${name}@${version}`).toMatch(new RegExp(`^${name}@11\\.`));
  }
});
