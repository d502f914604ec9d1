// Runs every scenario against every server, interleaved (A, B, C, D, then again, rotating who goes first),
// and reports median, min–max and the per-round ratio to `ws` pure JS.
//
//   node bench/run.mjs [--quick] [--rounds=N] [--only=a,b,latency] [--servers=wskit,ws-js] [--broadcast-times=N]
//   node bench/run.mjs --plugins [--quick]   the plugins beside bare @wskit/core (baseline) and express-ws / @fastify/websocket
//
// Writes bench/results/latest.json and bench/results/latest.svg.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderChart } from './chart.mjs';
import { median } from './median.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? 'true'];
  }),
);
const quick = args.has('quick');
const rounds = Number(args.get('rounds') ?? (quick ? 3 : 5));
// --plugins: the framework plugins beside bare @wskit/core (the baseline) and the peers they replace.
const pluginMode = args.has('plugins');
const BASELINE = args.get('baseline') ?? (pluginMode ? 'wskit' : 'ws-js');

const SERVERS = [
  { name: 'wskit', label: '@wskit/core', script: 'servers/wskit.mjs', env: {} },
  {
    name: 'ws-js',
    label: 'ws (pure JS)',
    script: 'servers/ws.mjs',
    env: { WS_NO_BUFFER_UTIL: '1', WS_NO_UTF_8_VALIDATE: '1' },
  },
  {
    name: 'ws-native',
    label: 'ws + bufferutil/utf-8-validate',
    script: 'servers/ws.mjs',
    env: {},
    unsetEnv: ['WS_NO_BUFFER_UTIL', 'WS_NO_UTF_8_VALIDATE'],
  },
  { name: 'net', label: 'net echo (ceiling)', script: 'servers/net.mjs', env: {} },
  { name: 'wskit-express', label: '@wskit/express', script: 'servers/wskit-express.mjs', env: {}, group: 'plugins' },
  {
    name: 'express-ws',
    label: 'express-ws (ws + native add-ons)',
    script: 'servers/express-ws.mjs',
    env: {},
    group: 'plugins',
    unsetEnv: ['WS_NO_BUFFER_UTIL', 'WS_NO_UTF_8_VALIDATE'],
  },
  { name: 'wskit-fastify', label: '@wskit/fastify', script: 'servers/wskit-fastify.mjs', env: {}, group: 'plugins' },
  {
    name: 'fastify-ws',
    label: '@fastify/websocket (ws + native add-ons)',
    script: 'servers/fastify-websocket.mjs',
    env: {},
    group: 'plugins',
    unsetEnv: ['WS_NO_BUFFER_UTIL', 'WS_NO_UTF_8_VALIDATE'],
  },
  { name: 'wskit-koa', label: '@wskit/koa', script: 'servers/wskit-koa.mjs', env: {}, group: 'plugins' },
  { name: 'wskit-nest', label: '@wskit/nest', script: 'servers/wskit-nest.mjs', env: {}, group: 'plugins' },
];
const PLUGIN_SCENARIOS = ['a', 'd'];

// Durations in ms: quick keeps the whole run under 4 minutes, full under 15 (2-core machine).
const T = quick ? { warmup: 300, measure: 1000, bigMeasure: 1500 } : { warmup: 1000, measure: 3000, bigMeasure: 4000 };

// ------------------------------------------------------------------------------------------- file descriptors

function openFileLimits() {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const [soft, hard] = line
      .trim()
      .split(/\s+/)
      .slice(3, 5)
      .map((v) => (v === 'unlimited' ? Infinity : Number(v)));
    return { soft, hard };
  } catch {
    return { soft: 1024, hard: 1024 };
  }
}
const limits = openFileLimits();
const FD_MARGIN = 256; // stdio, pipes, listeners, libuv internals
let raiseTo = 0; // when > 0, load.mjs (and the server it starts) run under `ulimit -n raiseTo`

/** Connections one process may hold: each side of a loopback connection is one fd in its own process. */
function affordable(wanted, what) {
  const need = wanted + FD_MARGIN;
  if (need <= limits.soft) return wanted;
  if (need <= limits.hard) {
    raiseTo = Math.max(raiseTo, need);
    return wanted;
  }
  const used = Math.max(100, limits.hard - FD_MARGIN);
  notes.push(`${what}: ulimit -n hard limit ${limits.hard} is too low for ${wanted} connections; used ${used}`);
  return used;
}
const notes = [];
const idleConns = affordable(Number(args.get('idle-conns') ?? 5000), 'idle memory');
const broadcastClients = affordable(2000, 'broadcast');
// 2,000 clients × 1,000 broadcasts is ~2 M socket writes: 30–45 s per run on this 2-core machine, so the default
// sends fewer rounds of the same broadcast; delivery time scales linearly, --broadcast-times=1000 runs the full count.
const broadcastTimes = Number(args.get('broadcast-times') ?? (quick ? 30 : 100));

// ------------------------------------------------------------------------------------------- scenarios

const echoTimes = { warmupMs: T.warmup, durationMs: T.measure };
const SCENARIOS = [
  {
    id: 'a',
    title: '(a) small-message echo',
    about: '64 connections × 64 in flight, 32-byte binary',
    load: 'echo',
    params: { payload: 'binary', size: 32, conns: 64, inflight: 64, ...echoTimes },
    metrics: [{ key: 'msgsPerSec', unit: 'msgs/s', better: 'higher' }],
  },
  {
    id: 'b',
    title: '(b) 1 KiB text echo',
    about: '64 connections × 64 in flight, 1,024-byte UTF-8 text (multi-byte characters)',
    load: 'echo',
    params: { payload: 'text', size: 1024, conns: 64, inflight: 64, ...echoTimes },
    metrics: [{ key: 'msgsPerSec', unit: 'msgs/s', better: 'higher' }],
  },
  {
    id: 'c',
    title: '(c) 16 MiB binary echo',
    about: 'one connection, one 16 MiB message in flight, echoed repeatedly',
    load: 'echo',
    params: {
      payload: 'binary',
      size: 16 * 1024 * 1024,
      conns: 1,
      inflight: 1,
      warmupMs: T.warmup,
      durationMs: T.bigMeasure,
    },
    metrics: [{ key: 'MBps', unit: 'MB/s', better: 'higher' }],
  },
  {
    id: 'd',
    title: '(d) handshakes',
    about: '32 in flight; connect, upgrade, close frame, TCP close',
    load: 'handshakes',
    params: { inflight: 32, ...echoTimes },
    metrics: [{ key: 'handshakesPerSec', unit: 'handshakes/s', better: 'higher' }],
  },
  {
    id: 'e',
    title: '(e) idle connection memory',
    about: `${idleConns} idle connections, after GC, above the empty server`,
    load: 'idleMemory',
    params: { conns: idleConns, concurrency: 200, settleMs: quick ? 300 : 1000 },
    metrics: [
      { key: 'heapPerConn', unit: 'B heap/conn', better: 'lower' },
      { key: 'rssPerConn', unit: 'B RSS/conn', better: 'lower' },
    ],
    noCpu: true,
  },
  {
    id: 'f',
    title: '(f) broadcast',
    about: `128-byte binary message to ${broadcastClients} clients, ${broadcastTimes} times`,
    load: 'broadcast',
    params: { clients: broadcastClients, times: broadcastTimes, size: 128, concurrency: 200, timeoutMs: 60_000 },
    metrics: [
      { key: 'deliveryMs', unit: 'ms to deliver all', better: 'lower' },
      // All server CPU (user + system) over the window per broadcast: wskit's writes happen after the call, in
      // the fan-out pump's turns, so CPU inside the call alone would flatter it (fanoutUserMs stays in the JSON).
      { key: 'serverCpuMsPerBroadcast', unit: 'ms server CPU/broadcast', better: 'lower' },
    ],
  },
  {
    id: 'f-single',
    title: '(f) broadcast, one at a time',
    about: `one 128-byte broadcast to ${broadcastClients} idle clients, ${quick ? 10 : 20} times, each after the last was delivered`,
    load: 'broadcast',
    params: {
      clients: broadcastClients,
      times: 1,
      repeat: quick ? 10 : 20,
      size: 128,
      concurrency: 200,
      timeoutMs: 60_000,
    },
    metrics: [
      { key: 'deliveryMs', unit: 'ms until the last client has it (median)', better: 'lower' },
      { key: 'serverCpuMsPerBroadcast', unit: 'ms server CPU/broadcast', better: 'lower' },
    ],
  },
  {
    id: 'f-burst',
    title: '(f) broadcast, burst',
    about: `the same ${broadcastTimes} broadcasts to ${broadcastClients} clients issued in one synchronous loop`,
    load: 'broadcast',
    params: {
      clients: broadcastClients,
      times: broadcastTimes,
      size: 128,
      concurrency: 200,
      timeoutMs: 60_000,
      mode: 'burst',
    },
    metrics: [
      { key: 'deliveryMs', unit: 'ms to deliver all', better: 'lower' },
      { key: 'serverCpuMsPerBroadcast', unit: 'ms server CPU/broadcast', better: 'lower' },
    ],
  },
  {
    id: 'g',
    title: '(g) permessage-deflate echo',
    about: '16 connections × 8 in flight, 4 KiB JSON-like text, compressed both ways',
    load: 'echo',
    params: { payload: 'json', size: 4096, conns: 16, inflight: 8, deflate: true, ...echoTimes },
    env: { BENCH_DEFLATE: '1' },
    skip: ['net'],
    metrics: [
      { key: 'msgsPerSec', unit: 'msgs/s', better: 'higher' },
      { key: 'rssMB', unit: 'MB RSS at end', better: 'lower' },
    ],
  },
  {
    id: 'latency',
    title: '(latency) ping-pong round trip',
    about: 'one connection, one 32-byte message in flight',
    load: 'echo',
    params: { payload: 'binary', size: 32, conns: 1, inflight: 1, latency: true, maxSamples: 1_000_000, ...echoTimes },
    metrics: [
      { key: 'p50us', unit: 'µs p50', better: 'lower' },
      { key: 'p99us', unit: 'µs p99', better: 'lower' },
    ],
  },
];

// ------------------------------------------------------------------------------------------- running

function runLoad(server, scenario, params, timeoutMs) {
  const env = { ...process.env, ...server.env, ...(scenario?.env ?? {}) };
  // ws reads these at import time and the server inherits this env, so the native variant must not see them.
  for (const name of server.unsetEnv ?? []) delete env[name];
  const spec = JSON.stringify({
    server: { script: join(here, server.script), env: { ...server.env, ...(scenario?.env ?? {}) } },
    scenario: scenario ? scenario.load : 'probe',
    params,
  });
  const load = join(here, 'load.mjs');
  const [cmd, argv] =
    raiseTo > limits.soft
      ? ['/bin/sh', ['-c', `ulimit -n ${raiseTo} && exec "$@"`, 'sh', process.execPath, load, spec]]
      : [process.execPath, [load, spec]];
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err = (err + d).slice(-2000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', () => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (line) resolve(JSON.parse(line.slice(7)));
      else
        resolve({
          ok: false,
          error: `no result (timed out or crashed): ${err.trim().split('\n').slice(-2).join(' | ')}`,
        });
    });
  });
}

async function runWithRetry(server, scenario, params, timeoutMs) {
  const result = await runLoad(server, scenario, params, timeoutMs);
  if (result.ok || !/^server (exited|did not print READY)/.test(result.error)) return result;
  // A rebuild of packages/*/dist may be under way in the work tree: one more try after a pause.
  await new Promise((r) => setTimeout(r, 3000));
  return runLoad(server, scenario, params, timeoutMs);
}

const defaultServers = SERVERS.filter((s) => (pluginMode ? s.group === 'plugins' || s.name === 'wskit' : !s.group));
const wantedServers = args.has('servers') ? args.get('servers').split(',') : defaultServers.map((s) => s.name);
const wantedScenarios = args.has('only')
  ? args.get('only').split(',')
  : pluginMode
    ? PLUGIN_SCENARIOS
    : SCENARIOS.map((s) => s.id);
const servers = SERVERS.filter((s) => wantedServers.includes(s.name));
const scenarios = SCENARIOS.filter((s) => wantedScenarios.includes(s.id));
const started = Date.now();

console.log(
  `wskit bench — ${quick ? 'quick' : 'full'} mode, ${rounds} rounds, node ${process.version}, ${cpus().length} CPUs`,
);
console.log(
  `open files: soft ${limits.soft}, hard ${limits.hard}${raiseTo > limits.soft ? `; raised to ${raiseTo} for the load runs` : ''}`,
);
console.log(`idle-memory connections: ${idleConns}; broadcast: ${broadcastClients} clients × ${broadcastTimes} times`);
for (const note of notes) console.log(`note: ${note}`);

const available = [];
const serverInfo = {};
for (const server of servers) {
  const probe = await runWithRetry(server, null, {}, 30_000);
  if (probe.ok) {
    available.push(server);
    serverInfo[server.name] = { label: server.label, available: true, ...probe.info };
    console.log(`server ${server.name.padEnd(14)} ready  ${JSON.stringify(probe.info)}`);
  } else {
    serverInfo[server.name] = { label: server.label, available: false, reason: probe.error };
    console.log(`server ${server.name.padEnd(14)} UNAVAILABLE — ${probe.error}`);
  }
}
if (!available.some((s) => s.name === BASELINE)) console.log(`note: ${BASELINE} is unavailable, so no ratios`);

const runs = [];
for (const scenario of scenarios) {
  const contenders = available.filter((s) => !(scenario.skip ?? []).includes(s.name));
  console.log(`\n${scenario.title}: ${scenario.about}`);
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < contenders.length; k++) {
      const server = contenders[(k + round) % contenders.length];
      const result = await runWithRetry(server, scenario, scenario.params, 120_000);
      runs.push({ scenario: scenario.id, server: server.name, round, ...result });
      const shown = result.ok
        ? scenario.metrics.map((m) => `${fmt(result.metrics[m.key])} ${m.unit}`).join(', ') +
          (result.cpu
            ? `  (CPU: server ${pct(result.cpu.serverCpu)}, generator ${pct(result.cpu.generatorCpu)}, others ${pct(result.cpu.otherCpu)})`
            : '')
        : `FAILED: ${result.error}`;
      console.log(`  round ${round + 1} ${server.name.padEnd(14)} ${shown}`);
    }
  }
}

// ------------------------------------------------------------------------------------------- summary

function fmt(v) {
  if (!Number.isFinite(v)) return 'n/a';
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString('en-US');
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}
function pct(v) {
  return Number.isFinite(v) ? `${Math.round(v * 100)}%` : 'n/a';
}

// A generator using this much of its core may itself be the limit: the figure is then a lower bound.
const GENERATOR_BOUND = 0.9;
const summary = [];
for (const scenario of scenarios) {
  const entry = { id: scenario.id, title: scenario.title, about: scenario.about, params: scenario.params, metrics: [] };
  for (const metric of scenario.metrics) {
    const results = {};
    for (const server of available) {
      const mine = runs.filter((r) => r.scenario === scenario.id && r.server === server.name && r.ok);
      if (mine.length === 0) continue;
      const values = mine.map((r) => r.metrics[metric.key]);
      const ratios = [];
      for (const r of mine) {
        const base = runs.find(
          (b) => b.scenario === scenario.id && b.server === BASELINE && b.round === r.round && b.ok,
        );
        if (base) ratios.push(r.metrics[metric.key] / base.metrics[metric.key]);
      }
      const genCpu = median(mine.map((r) => r.cpu?.generatorCpu ?? NaN).filter(Number.isFinite));
      results[server.name] = {
        values,
        median: median(values),
        min: Math.min(...values),
        max: Math.max(...values),
        ratios,
        ratioMedian: median(ratios),
        ratioMin: ratios.length ? Math.min(...ratios) : NaN,
        ratioMax: ratios.length ? Math.max(...ratios) : NaN,
        serverCpu: median(mine.map((r) => r.cpu?.serverCpu ?? NaN).filter(Number.isFinite)),
        generatorCpu: genCpu,
        otherCpu: median(mine.map((r) => r.cpu?.otherCpu ?? NaN).filter(Number.isFinite)),
        generatorBound: metric.better === 'higher' && genCpu >= GENERATOR_BOUND,
        failedRounds: runs.filter((r) => r.scenario === scenario.id && r.server === server.name && !r.ok).length,
      };
    }
    entry.metrics.push({ ...metric, results });
  }
  summary.push(entry);
}

console.log(`\n=== summary: median [min–max] over ${rounds} rounds; ratio = value / ${BASELINE} in the same round ===`);
for (const entry of summary) {
  const scenario = scenarios.find((s) => s.id === entry.id);
  for (const metric of entry.metrics) {
    console.log(`\n${entry.title} — ${metric.unit} (${metric.better} is better); ${entry.about}`);
    console.log(
      `  ${'server'.padEnd(14)}${'median'.padStart(14)}  ${'min–max'.padEnd(24)}${`ratio to ${BASELINE} [min–max]`.padEnd(27)}${scenario.noCpu ? '' : 'server CPU  gen CPU  others'}`,
    );
    for (const server of available) {
      const r = metric.results[server.name];
      if (!r) {
        if (!(scenario.skip ?? []).includes(server.name))
          console.log(`  ${server.name.padEnd(14)}${'failed'.padStart(14)}`);
        continue;
      }
      const mark = r.generatorBound ? '≥' : ' ';
      const ratio = Number.isFinite(r.ratioMedian)
        ? `${r.ratioMedian.toFixed(2)}× [${r.ratioMin.toFixed(2)}–${r.ratioMax.toFixed(2)}]`
        : '';
      console.log(
        `  ${server.name.padEnd(14)}${(mark + fmt(r.median)).padStart(14)}  ${`${fmt(r.min)}–${fmt(r.max)}`.padEnd(24)}${ratio.padEnd(27)}` +
          (scenario.noCpu
            ? ''
            : `${pct(r.serverCpu).padStart(10)}  ${pct(r.generatorCpu).padStart(7)}  ${pct(r.otherCpu).padStart(6)}`) +
          (r.failedRounds ? `  (${r.failedRounds} failed rounds)` : ''),
      );
    }
  }
}
console.log(
  `\n≥ marks a generator at ≥${GENERATOR_BOUND * 100}% of a core: that figure is a lower bound for the server.`,
);
console.log(
  'CPU is a share of one core over the measured window; "others" is what the rest of the machine used meanwhile.',
);
const elapsed = (Date.now() - started) / 1000;
console.log(`total time ${Math.round(elapsed)} s`);

const output = {
  meta: {
    date: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    rounds,
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    openFiles: { ...limits, raisedTo: raiseTo || null },
    baseline: BASELINE,
    generatorBoundAt: GENERATOR_BOUND,
    elapsedSeconds: elapsed,
    notes,
  },
  servers: serverInfo,
  scenarios: summary,
  runs,
};
const resultsDir = join(here, 'results');
mkdirSync(resultsDir, { recursive: true });
const stem = pluginMode ? 'plugins' : 'latest';
writeFileSync(join(resultsDir, `${stem}.json`), `${JSON.stringify(output, null, 2)}\n`);
writeFileSync(join(resultsDir, `${stem}.svg`), renderChart(output));
console.log(`wrote bench/results/${stem}.json and bench/results/${stem}.svg`);
