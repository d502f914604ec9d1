// Builds every workspace package twice: ESM (dist/esm) and CJS (dist/cjs), each with .d.ts.
// Core first: the plugins resolve @wskit/core through its built output.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const order = ['core', 'express', 'fastify', 'koa', 'nest'];

for (const name of order) {
  const dir = join(root, 'packages', name);
  if (!existsSync(join(dir, 'src', 'index.ts'))) continue;
  rmSync(join(dir, 'dist'), { recursive: true, force: true });
  for (const config of ['tsconfig.json', 'tsconfig.cjs.json']) {
    execFileSync(process.execPath, [tsc, '-p', join(dir, config)], { stdio: 'inherit' });
  }
  mkdirSync(join(dir, 'dist', 'cjs'), { recursive: true });
  writeFileSync(join(dir, 'dist', 'cjs', 'package.json'), '{ "type": "commonjs" }\n');
  console.log(`built @wskit/${name}`);
}
