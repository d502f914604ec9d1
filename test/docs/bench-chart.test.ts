/** The README's benchmark chart can be drawn from a results file (bench/render-chart.mjs), the same way run.mjs draws it. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../helpers/child.js';
import { root } from './snippets.js';

test('bench/render-chart.mjs draws an SVG with a bar per server and scenario of the results', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wskit-chart-'));
  try {
    const out = join(dir, 'chart.svg');
    const results = join(root, 'bench', 'results', 'latest.json');
    const { code, stderr } = await run(
      process.execPath,
      [join(root, 'bench', 'render-chart.mjs'), results, out],
      20_000,
    );
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const svg = readFileSync(out, 'utf8');
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    const { scenarios } = JSON.parse(readFileSync(results, 'utf8')) as { scenarios: Array<{ metrics: unknown[] }> };
    expect(scenarios.length).toBeGreaterThan(0);
    expect((svg.match(/<rect /g) ?? []).length).toBeGreaterThan(scenarios.length);
    // The committed chart is the one the committed results draw.
    expect(readFileSync(join(root, 'bench', 'results', 'latest.svg'), 'utf8')).toBe(svg);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
