// Topic pub/sub benchmark: @wskit/core wss.publish against a loop of send() over a Set in ws, and Bun's native
// server.publish (the @oven/bun-linux-x64 binary), in the same run, rounds interleaved.
//
//   node bench/topics.mjs [--quick] [--rounds=N] [--only=fan,many,deflate] [--servers=wskit,ws]
//
// Scenarios (each subscriber is a raw TCP client in this process, counting frames from their headers):
//   fan      1 topic × 10,000 subscribers, 128 B binary publishes (one per server loop turn)
//   fan-lone the same, each publish sent once the previous one reached every subscriber
//   many     1,000 topics × 10 subscribers, 128 B, each server loop turn publishes once to every topic
//   deflate  1 topic × 1,000 subscribers offering server_no_context_takeover, 1 KiB compressible publishes with
//            compress: wskit shared vs wskit dedicated (and ws's per-socket loop, Bun's publish)
//   deflate-takeover  the same with plain permessage-deflate offers (context takeover): every socket deflates
//            against its own history, so no frame can be shared; shows the bytes and memory that buys
// Metrics: delivered messages per second (subscribers' receipts / time from the publish command until the last
// one arrived), server CPU per publish (utime+stime of the server process from /proc), server RSS afterwards.
// Writes bench/results/topics.json.
import { spawn } from 'node:child_process';
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { median } from './median.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k, v ?? 'true'];
  }),
);
const quick = args.has('quick');
const rounds = Number(args.get('rounds') ?? (quick ? 2 : 4));
const only = args.has('only') ? new Set(args.get('only').split(',')) : null;
const serversOnly = args.has('servers') ? new Set(args.get('servers').split(',')) : null;

const BUN = join(here, '..', 'node_modules', '@oven', 'bun-linux-x64', 'bin', 'bun');
const CLK_TCK = 100;

const SERVERS = {
  wskit: { label: '@wskit/core publish', cmd: process.execPath, script: 'servers/topics-wskit.mjs', env: {} },
  'wskit-dedicated': {
    label: '@wskit/core publish, dedicated deflate',
    cmd: process.execPath,
    script: 'servers/topics-wskit.mjs',
    env: { BENCH_TOPIC_COMPRESSION: 'dedicated' },
  },
  ws: { label: 'ws: loop of send over a Set', cmd: process.execPath, script: 'servers/topics-ws.mjs', env: {} },
  bun: { label: 'Bun server.publish', cmd: BUN, script: 'servers/topics-bun.mjs', env: {} },
};

const SCENARIOS = [
  {
    id: 'fan',
    title: '1 topic × 10,000 subscribers, 128 B',
    topics: 1,
    perTopic: 10_000,
    size: 128,
    publishes: quick ? 30 : 100,
    servers: ['wskit', 'ws', 'bun'],
  },
  // Each publish waits until all 10,000 have it: the cost of a lone publish, no merging with later ones.
  {
    id: 'fan-lone',
    title: '1 topic × 10,000 subscribers, 128 B, one publish at a time',
    topics: 1,
    perTopic: 10_000,
    size: 128,
    publishes: quick ? 10 : 30,
    lone: true,
    servers: ['wskit', 'ws', 'bun'],
  },
  // A tick of every topic per server loop turn (publishes 0..999 in one turn, then the next tick).
  {
    id: 'many',
    title: '1,000 topics × 10 subscribers, 128 B, a tick of every topic per turn',
    topics: 1000,
    perTopic: 10,
    size: 128,
    publishes: quick ? 10_000 : 50_000,
    perTurn: 1000,
    servers: ['wskit', 'ws', 'bun'],
  },
  {
    id: 'deflate',
    title: 'deflate: 1 topic × 1,000 subscribers (server_no_context_takeover), 1 KiB',
    topics: 1,
    perTopic: 1000,
    size: 1024,
    publishes: quick ? 30 : 100,
    deflate: true,
    servers: ['wskit', 'wskit-dedicated', 'ws', 'bun'],
  },
  {
    id: 'deflate-takeover',
    title: 'deflate with context takeover: 1 topic × 1,000 subscribers, 1 KiB',
    topics: 1,
    perTopic: 1000,
    size: 1024,
    publishes: quick ? 30 : 100,
    deflate: 'takeover',
    servers: ['wskit', 'ws', 'bun'],
  },
];

// ------------------------------------------------------------------------------------------- server process

/** utime + stime of `pid` in seconds; `sys`: stime alone (the kernel's share: on loopback, mostly the writes). */
function procCpuSeconds(pid, sys = false) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((sys ? 0 : Number(fields[11])) + Number(fields[12])) / CLK_TCK;
}

function procRss(pid) {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(line.trim().split(/\s+/)[1]) * 1024;
}

async function startServer(name, deflate) {
  const s = SERVERS[name];
  const env = { ...process.env, ...s.env };
  if (deflate) env.BENCH_DEFLATE = '1';
  // BENCH_SERVER_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") goes to the Node servers only.
  const extra = s.cmd === process.execPath ? (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean) : [];
  const child = spawn(s.cmd, [...extra, join(here, s.script)], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  // Lines not yet taken by next(), and the one waiter (commands are sent one at a time).
  const lines = [];
  let waiter = null;
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    waiter?.();
  });
  const next = (prefix, ms = 120_000) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiter = null;
        reject(new Error(`${name}: no "${prefix}" within ${ms} ms`));
      }, ms);
      const check = () => {
        const at = lines.findIndex((l) => l.startsWith(prefix));
        if (at < 0) return;
        const [line] = lines.splice(0, at + 1).slice(-1);
        waiter = null;
        clearTimeout(timer);
        resolve(line.slice(prefix.length).trim());
      };
      waiter = check;
      check();
    });
  const port = Number(await next('READY', 20_000));
  return {
    port,
    pid: child.pid,
    command: (line) => child.stdin.write(`${line}\n`),
    next,
    stop: async () => {
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)));
      clearTimeout(timer);
    },
  };
}

// ------------------------------------------------------------------------------------------- subscribers

let received = 0;
let compressedFrames = 0;
/** Payload bytes of the data frames received (what the deflate scenarios put on the wire per message). */
let payloadBytes = 0;
/** Resolved by the data handler once `received` reaches `goal` (no polling: the CPU is shared). */
let goal = Infinity;
let onGoal = null;
const reached = (count, ms) =>
  new Promise((resolve) => {
    if (received >= count) return resolve(true);
    const timer = setTimeout(() => {
      onGoal = null;
      resolve(false);
    }, ms);
    goal = count;
    onGoal = () => {
      clearTimeout(timer);
      onGoal = null;
      resolve(true);
    };
  });

/** Counts data messages from frame headers; payload bytes are skipped. */
function subscriber(port, topic, deflate) {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let upgraded = false;
    let pending = null;
    let skip = 0;
    socket.setNoDelay(true);
    socket.on('error', reject);
    socket.on('connect', () =>
      socket.write(
        `GET /?t=${topic} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
          (deflate === 'takeover'
            ? 'Sec-WebSocket-Extensions: permessage-deflate\r\n'
            : deflate
              ? 'Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n'
              : '') +
          '\r\n',
      ),
    );
    socket.on('data', (chunk) => {
      let b = pending ? Buffer.concat([pending, chunk]) : chunk;
      pending = null;
      let i = 0;
      if (!upgraded) {
        const end = b.indexOf('\r\n\r\n');
        if (end < 0) {
          pending = b;
          return;
        }
        if (!b.toString('latin1', 0, 12).startsWith('HTTP/1.1 101')) {
          reject(new Error(`handshake refused: ${b.toString('latin1', 0, end)}`));
          return;
        }
        upgraded = true;
        resolve(socket);
        i = end + 4;
      }
      const n = b.length;
      while (i < n) {
        if (skip > 0) {
          const take = Math.min(skip, n - i);
          skip -= take;
          i += take;
          continue;
        }
        if (n - i < 2) break;
        const code = b[i + 1] & 0x7f;
        const header = code === 126 ? 4 : code === 127 ? 10 : 2;
        if (n - i < header) break;
        const length = code === 126 ? b.readUInt16BE(i + 2) : code === 127 ? b.readUInt32BE(i + 6) : code;
        const opcode = b[i] & 0x0f;
        if (opcode === 1 || opcode === 2) {
          received++;
          payloadBytes += length;
          if (b[i] & 0x40) compressedFrames++;
        }
        i += header;
        skip = length;
      }
      if (i < n) pending = b.subarray(i);
      if (onGoal !== null && received >= goal) onGoal();
    });
  });
}

async function connectAll(port, scenario) {
  const sockets = [];
  const total = scenario.topics * scenario.perTopic;
  for (let i = 0; i < total; i += 500) {
    const batch = [];
    for (let j = i; j < Math.min(total, i + 500); j++)
      batch.push(subscriber(port, `t${j % scenario.topics}`, scenario.deflate));
    sockets.push(...(await Promise.all(batch)));
  }
  return sockets;
}

// ------------------------------------------------------------------------------------------- one measurement

async function measure(name, scenario) {
  const server = await startServer(name, scenario.deflate);
  const sockets = await connectAll(server.port, scenario);
  try {
    const subscriptions = scenario.topics * scenario.perTopic;
    for (;;) {
      server.command('count');
      if (Number(await server.next('COUNT')) >= subscriptions) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const command = (count) =>
      `publish ${JSON.stringify({ topics: scenario.topics, count, size: scenario.size, compress: Boolean(scenario.deflate), perTurn: scenario.perTurn ?? 1 })}`;
    const run = async (publishes) => {
      const expected = publishes * scenario.perTopic;
      received = 0;
      compressedFrames = 0;
      payloadBytes = 0;
      const cpu0 = procCpuSeconds(server.pid);
      const sys0 = procCpuSeconds(server.pid, true);
      const t0 = process.hrtime.bigint();
      const deadline = Date.now() + 120_000;
      // A lone publish goes out only after the previous one reached every subscriber.
      const steps = scenario.lone ? publishes : 1;
      for (let step = 1; step <= steps; step++) {
        server.command(command(scenario.lone ? 1 : publishes));
        const target = scenario.lone ? step * scenario.perTopic : expected;
        await reached(target, Math.max(1, deadline - Date.now()));
        await server.next('PUBLISHED');
      }
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const cpu = procCpuSeconds(server.pid) - cpu0;
      const sys = procCpuSeconds(server.pid, true) - sys0;
      return { delivered: received, expected, seconds, cpu, sys, compressed: compressedFrames, bytes: payloadBytes };
    };
    await run(Math.max(3, Math.round(scenario.publishes / 5))); // warm-up (JIT, buffers)
    const r = await run(scenario.publishes);
    return {
      msgsPerSec: r.delivered / r.seconds,
      cpuUsPerPublish: (r.cpu * 1e6) / scenario.publishes,
      sysShare: r.cpu > 0 ? r.sys / r.cpu : 0,
      delivered: r.delivered,
      expected: r.expected,
      compressedShare: r.delivered > 0 ? r.compressed / r.delivered : 0,
      bytesPerMsg: r.delivered > 0 ? r.bytes / r.delivered : 0,
      rssMiB: procRss(server.pid) / 1048576,
    };
  } finally {
    for (const s of sockets) s.destroy();
    await server.stop();
  }
}

// ------------------------------------------------------------------------------------------- run

const results = { date: new Date().toISOString(), quick, rounds, scenarios: [] };
for (const scenario of SCENARIOS) {
  if (only && !only.has(scenario.id)) continue;
  if (serversOnly) scenario.servers = scenario.servers.filter((n) => serversOnly.has(n));
  const perServer = Object.fromEntries(scenario.servers.map((n) => [n, []]));
  for (let round = 0; round < rounds; round++) {
    const order = scenario.servers.map((_, i) => scenario.servers[(i + round) % scenario.servers.length]);
    for (const name of order) {
      const m = await measure(name, scenario);
      perServer[name].push(m);
      console.error(
        `${scenario.id} r${round + 1} ${name}: ${Math.round(m.msgsPerSec).toLocaleString('en')} msgs/s, ` +
          `${m.cpuUsPerPublish.toFixed(0)} µs CPU/publish (${(m.sysShare * 100).toFixed(0)}% kernel), ${m.delivered}/${m.expected} delivered, RSS ${m.rssMiB.toFixed(0)} MiB` +
          (scenario.deflate
            ? `, ${(m.compressedShare * 100).toFixed(0)}% compressed, ${m.bytesPerMsg.toFixed(0)} B/msg`
            : ''),
      );
    }
  }
  const summary = {};
  for (const [name, list] of Object.entries(perServer)) {
    summary[name] = {
      label: SERVERS[name].label,
      msgsPerSec: median(list.map((m) => m.msgsPerSec)),
      // Spread over the rounds (the machine may be shared): [min, max].
      // Ratio to ws within each round (same minutes of the shared machine), then their median.
      vsWsPerRound: perServer.ws ? list.map((m, i) => m.msgsPerSec / perServer.ws[i].msgsPerSec) : [],
      msgsPerSecRange: [Math.min(...list.map((m) => m.msgsPerSec)), Math.max(...list.map((m) => m.msgsPerSec))],
      cpuUsPerPublish: median(list.map((m) => m.cpuUsPerPublish)),
      rssMiB: median(list.map((m) => m.rssMiB)),
      bytesPerMsg: median(list.map((m) => m.bytesPerMsg)),
      allDelivered: list.every((m) => m.delivered === m.expected),
    };
  }
  results.scenarios.push({ id: scenario.id, title: scenario.title, summary });
  console.log(`\n${scenario.title} (median of ${rounds})`);
  for (const s of Object.values(summary)) {
    const vsWs = summary.ws ? s.msgsPerSec / summary.ws.msgsPerSec : NaN;
    const vsBun = summary.bun ? s.msgsPerSec / summary.bun.msgsPerSec : NaN;
    console.log(
      `  ${s.label.padEnd(40)} ${Math.round(s.msgsPerSec).toLocaleString('en').padStart(11)} msgs/s  ` +
        `(${s.msgsPerSecRange.map((v) => `${Math.round(v / 1000)}k`).join('–')})  ` +
        `${s.cpuUsPerPublish.toFixed(0).padStart(7)} µs CPU/publish  RSS ${s.rssMiB.toFixed(0).padStart(4)} MiB  ` +
        (scenario.deflate ? `${s.bytesPerMsg.toFixed(0).padStart(4)} B/msg  ` : '') +
        `${vsWs.toFixed(2)}× ws  ${vsBun.toFixed(2)}× Bun  per round ${s.vsWsPerRound.map((r) => r.toFixed(1)).join('/')}× ws` +
        (s.allDelivered ? '' : '  (NOT ALL DELIVERED)'),
    );
  }
}
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'topics.json'), `${JSON.stringify(results, null, 2)}\n`);
