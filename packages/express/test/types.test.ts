import { join } from 'node:path';
import { typeCheck } from '../../../test/helpers/typecheck.js';

// The root `tsc --noEmit` checks types.test-d.ts too; this runs the same check inside the jest suite.
test('types.test-d.ts type-checks: right usages compile and every @ts-expect-error line is an error', () => {
  const { diagnostics, expectedErrors } = typeCheck(join(__dirname, 'types.test-d.ts'), [
    join(__dirname, 'express4.d.ts'),
  ]);
  expect(expectedErrors).toBeGreaterThanOrEqual(8);
  expect(diagnostics).toEqual([]);
});
