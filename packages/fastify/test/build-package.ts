/**
 * Makes sure packages/fastify/dist matches its sources before a child process imports the built package
 * (the root `npm test` builds everything first; a lone `npx jest` may not have).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const packageDir = join(__dirname, '..');

function newestSource(): number {
  return Math.max(...readdirSync(join(packageDir, 'src')).map((f) => statSync(join(packageDir, 'src', f)).mtimeMs));
}

export function ensureBuilt(): void {
  const root = join(packageDir, '..', '..');
  if (!existsSync(join(root, 'packages', 'core', 'dist', 'esm', 'index.js'))) {
    throw new Error('@wskit/core is not built: run `npm run build` at the repository root');
  }
  const outputs = ['esm', 'cjs'].map((format) => join(packageDir, 'dist', format, 'index.js'));
  const built = outputs.every((file) => existsSync(file) && statSync(file).mtimeMs >= newestSource());
  if (built) return;
  const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
  for (const config of ['tsconfig.json', 'tsconfig.cjs.json']) {
    execFileSync(process.execPath, [tsc, '-p', join(packageDir, config)], { stdio: 'inherit' });
  }
  mkdirSync(join(packageDir, 'dist', 'cjs'), { recursive: true });
  writeFileSync(join(packageDir, 'dist', 'cjs', 'package.json'), '{ "type": "commonjs" }\n');
}
