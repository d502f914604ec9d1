/**
 * Type tests: a `*.test-d.ts` file holds right usages (must compile) and wrong ones marked
 * `@ts-expect-error` (must not). The root `tsc --noEmit` checks them against src/ (through tsconfig paths);
 * this check, from inside jest, resolves @wskit/* as a user's compiler does, through each package's exports
 * map to the built .d.ts, so a broken declaration or exports map fails it. Returns every diagnostic as
 * "line: message".
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { ensureBuilt } from './built.js';

const root = join(__dirname, '..', '..');

export function typeCheck(file: string, extraFiles: string[] = []): { diagnostics: string[]; expectedErrors: number } {
  const expectedErrors = (readFileSync(file, 'utf8').match(/@ts-expect-error/g) ?? []).length;
  const config = ts.getParsedCommandLineOfConfigFile(
    join(root, 'tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
        throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
      },
    },
  )!;
  for (const name of ['core', 'express', 'fastify', 'koa', 'nest'] as const) ensureBuilt(name);
  const { paths: _paths, baseUrl: _baseUrl, ...options } = config.options;
  const program = ts.createProgram([file, ...extraFiles], { ...options, noEmit: true });
  const diagnostics = ts
    .getPreEmitDiagnostics(program, program.getSourceFile(file))
    .map(
      (d) =>
        `${d.start === undefined ? '' : `${d.file!.getLineAndCharacterOfPosition(d.start).line + 1}: `}${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`,
    );
  return { diagnostics, expectedErrors };
}
