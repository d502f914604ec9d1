/**
 * Example apps import the built packages, as a user would. `npm test` builds everything first; a lone
 * `npx jest` may not have, so example tests call this to build one package in place (never deleting
 * `dist/`, which tests running in parallel may be reading) when its output is missing or older than its
 * sources.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Builds packages/<name> (scripts/build.mjs --in-place) unless its dist is up to date; core is checked first. */
export function ensureBuilt(name: 'core' | 'express' | 'fastify' | 'koa' | 'nest' | 'redis'): void {
  if (name !== 'core') ensureBuilt('core');
  const pkg = join(root, 'packages', name);
  const outputs = ['esm/index.js', 'esm/index.d.ts', 'cjs/index.js'].map((file) => join(pkg, 'dist', file));
  const newest = newestSource(join(pkg, 'src'));
  if (outputs.every((file) => existsSync(file) && statSync(file).mtimeMs >= newest)) return;
  execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs'), '--in-place', name], { stdio: 'inherit' });
}
