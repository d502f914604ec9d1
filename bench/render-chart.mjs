#!/usr/bin/env node
// Re-draws the chart from a results file without running the benchmarks again (the README embeds the SVG).
// Usage: node bench/render-chart.mjs [bench/results/latest.json] [bench/results/latest.svg]
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderChart } from './chart.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const [input = `${here}results/latest.json`, output = `${here}results/latest.svg`] = process.argv.slice(2);
writeFileSync(output, renderChart(JSON.parse(readFileSync(input, 'utf8'))));
console.log(`wrote ${output}`);
