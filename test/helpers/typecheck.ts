/**
 * Type tests: a `*.test-d.ts` file holds right usages (must compile) and wrong ones marked
 * `@ts-expect-error` (must not). The root `tsc --noEmit` checks them too; this runs the same check from
 * inside jest, with the root tsconfig, and returns every diagnostic as "line: message".
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';

const root = join(__dirname, '..', '..');

export function typeCheck(file: string, extraFiles: string[] = []): { diagnostics: string[]; expectedErrors: number } {
  const expectedErrors = (readFileSync(file, 'utf8').match(/@ts-expect-error/g) ?? []).length;
  const config = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.json'), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
      throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
    },
  })!;
  const program = ts.createProgram([file, ...extraFiles], { ...config.options, noEmit: true });
  const diagnostics = ts
    .getPreEmitDiagnostics(program, program.getSourceFile(file))
    .map(
      (d) =>
        `${d.start === undefined ? '' : `${d.file!.getLineAndCharacterOfPosition(d.start).line + 1}: `}${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`,
    );
  return { diagnostics, expectedErrors };
}
