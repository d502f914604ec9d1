/**
 * The TypeScript snippets of the repository's Markdown (READMEs, docs/, examples/*): every ```ts block is a
 * complete module; a block fenced ```ts run is also a program that must finish by itself with exit code 0.
 * Blocks meant as outlines use another fence (```text, ```js).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

export const root = join(__dirname, '..', '..');

export interface Snippet {
  /** Markdown file, relative to the repository root. */
  file: string;
  /** 1-based line of the first code line in that file. */
  line: number;
  code: string;
  runnable: boolean;
  /** A file name for the compiled module, unique across snippets. */
  name: string;
}

export function markdownFiles(): string[] {
  const files = [join(root, 'README.md')];
  for (const dir of ['packages', 'examples']) {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      if (entry.isDirectory()) files.push(join(root, dir, entry.name, 'README.md'));
    }
  }
  for (const entry of readdirSync(join(root, 'docs'), { withFileTypes: true })) {
    if (entry.isFile() && entry.name.endsWith('.md')) files.push(join(root, 'docs', entry.name));
  }
  return files.filter((file) => {
    try {
      readFileSync(file);
      return true;
    } catch {
      return false;
    }
  });
}

export function extractSnippets(files = markdownFiles()): Snippet[] {
  const snippets: Snippet[] = [];
  for (const path of files) {
    const file = relative(root, path);
    const lines = readFileSync(path, 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      const open = /^```(ts|typescript)(\s+run)?\s*$/.exec(lines[i]!);
      if (!open) continue;
      const start = i + 1;
      let end = start;
      while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++;
      const slug = file.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '');
      snippets.push({
        file,
        line: start + 1,
        code: lines.slice(start, end).join('\n'),
        runnable: Boolean(open[2]),
        name: `${slug}-L${start + 1}`,
      });
      i = end;
    }
  }
  return snippets;
}
