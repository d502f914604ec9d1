// Hand-written SVG bar chart of a bench run: every metric as a group of bars, each server's median relative to
// ws pure JS in the same round (inverted for lower-is-better metrics, so a longer bar is always better); the label
// carries the median and the plain ratio, as the console table prints them.
const COLORS = { wskit: '#1f77b4', 'ws-js': '#9a9a9a', 'ws-native': '#5c5c5c', net: '#e0a030' };
const AXIS_MAX = 3; // relative scale shown; longer bars are clipped and labelled with their real value
const WIDTH = 1040;
const LABEL_W = 300;
const BAR_W = 520;
const BAR_H = 14;

function escape(text) {
  return String(text).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
}

function fmt(v) {
  if (!Number.isFinite(v)) return 'n/a';
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString('en-US');
  return Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
}

export function renderChart({ meta, servers, scenarios }) {
  const names = Object.keys(servers).filter((n) => servers[n].available);
  const x = (score) => Math.round(LABEL_W + (Math.min(score, AXIS_MAX) / AXIS_MAX) * BAR_W);
  const parts = [];
  let y = 70;
  for (const scenario of scenarios) {
    for (const metric of scenario.metrics) {
      const rows = names.filter((n) => metric.results[n]);
      if (rows.length === 0) continue;
      parts.push(
        `<text x="10" y="${y + 11}" font-weight="bold">${escape(scenario.title)}</text>`,
        `<text x="10" y="${y + 25}" fill="#555">${escape(`${metric.unit}, ${metric.better} is better`)}</text>`,
      );
      for (const name of rows) {
        const r = metric.results[name];
        const score = metric.better === 'higher' ? r.ratioMedian : 1 / r.ratioMedian;
        const bound = r.generatorBound ? '≥ ' : '';
        const label = `${bound}${fmt(r.median)}${Number.isFinite(r.ratioMedian) ? `  (${r.ratioMedian.toFixed(2)}× ${meta?.baseline ?? 'ws-js'})` : ''}`;
        if (Number.isFinite(score)) {
          const end = x(score);
          parts.push(
            `<rect x="${LABEL_W}" y="${y}" width="${(end - LABEL_W).toFixed(1)}" height="${BAR_H}" fill="${COLORS[name] ?? '#888'}"/>`,
          );
          if (score > AXIS_MAX)
            parts.push(`<path d="M${end - 6} ${y - 2} l6 ${BAR_H / 2 + 2} l-6 ${BAR_H / 2 + 2}" fill="#fff"/>`);
          parts.push(`<text x="${Math.min(end, LABEL_W + BAR_W) + 6}" y="${y + 11}">${escape(label)}</text>`);
        } else {
          parts.push(`<text x="${LABEL_W + 6}" y="${y + 11}">${escape(label)}</text>`);
        }
        parts.push(`<text x="${LABEL_W - 8}" y="${y + 11}" text-anchor="end" fill="#333">${escape(name)}</text>`);
        y += BAR_H + 3;
      }
      y += 16;
    }
  }
  const height = y + 30;
  const grid = [];
  for (let g = 0; g <= AXIS_MAX; g += 0.5) {
    const gx = x(g);
    grid.push(
      `<line x1="${gx}" y1="60" x2="${gx}" y2="${y}" stroke="${g === 1 ? '#c33' : '#e4e4e4'}" stroke-width="${g === 1 ? 1.5 : 1}"${g === 1 ? ' stroke-dasharray="4 3"' : ''}/>`,
      `<text x="${gx}" y="${y + 14}" text-anchor="middle" fill="#777">${g}×</text>`,
    );
  }
  let lx = 10;
  const legend = names
    .map((n) => {
      const text = `${n}: ${servers[n].label}`;
      const item = `<rect x="${lx}" y="32" width="12" height="12" fill="${COLORS[n] ?? '#888'}"/><text x="${lx + 18}" y="43">${escape(text)}</text>`;
      lx += 18 + text.length * 7 + 24; // ~7 px per character at 12 px sans-serif
      return item;
    })
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/>
<text x="10" y="18" font-size="14" font-weight="bold">${escape(`wskit bench (${meta.mode}, ${meta.rounds} rounds, node ${meta.node}, ${meta.cpus} CPUs): median relative to ws pure JS = 1× (longer is better)`)}</text>
${legend}
${grid.join('\n')}
${parts.join('\n')}
</svg>
`;
}
