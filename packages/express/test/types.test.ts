import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';

const root = join(__dirname, '..', '..', '..');
const file = join(__dirname, 'types.test-d.ts');

// The root `tsc --noEmit` checks types.test-d.ts too; this runs the same check inside the jest suite.
test('types.test-d.ts type-checks: right usages compile and every @ts-expect-error line is an error', () => {
  const expectations = readFileSync(file, 'utf8').match(/@ts-expect-error/g) ?? [];
  expect(expectations.length).toBeGreaterThanOrEqual(8);
  const config = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.json'), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
      throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
    },
  })!;
  const program = ts.createProgram([file, join(root, 'packages', 'express', 'test', 'express4.d.ts')], { ...config.options, noEmit: true });
  const diagnostics = ts
    .getPreEmitDiagnostics(program, program.getSourceFile(file))
    .map((d) => `${d.start === undefined ? '' : `${d.file!.getLineAndCharacterOfPosition(d.start).line + 1}: `}${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`);
  expect(diagnostics).toEqual([]);
});
