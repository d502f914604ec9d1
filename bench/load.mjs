// The one load generator for every server under test. Raw `net` sockets only (neither wskit nor ws): it does
// the opening handshake itself, builds each masked frame once, and counts replies from frame headers alone.
//
//   node bench/load.mjs '<json spec>'
//
// It starts the server process named in the spec, runs one scenario against it, stops it, and prints one line
// "RESULT <json>" with the metrics and the CPU used by server and generator over the measured window.
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { constants as zlibConstants, deflateRawSync } from 'node:zlib';
import { median } from './median.mjs';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = createHash('sha1').update(`${KEY}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
const MASK = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

let clockTicks = 100;
try {
  clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  // Linux default.
}

// ---------------------------------------------------------------------------------------------- frames

/** A complete client frame: FIN set, masked with a fixed key (the server cannot tell, and must not care). */
export function maskedFrame(opcode, payload, { rsv1 = false } = {}) {
  const length = payload.length;
  const header = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + 4 + length);
  frame[0] = 0x80 | (rsv1 ? 0x40 : 0) | opcode;
  if (header === 2) frame[1] = 0x80 | length;
  else if (header === 4) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  MASK.copy(frame, header);
  for (let i = 0; i < length; i++) frame[header + 4 + i] = payload[i] ^ MASK[i & 3];
  return frame;
}

const CLOSE_FRAME = maskedFrame(0x8, Buffer.from([0x03, 0xe8]));

/** Reads server frames by their headers only: payload bytes are skipped, never copied or inflated. */
class FrameCounter {
  constructor() {
    this.skip = 0;
    this.fin = false;
    this.data = false;
    this.head = Buffer.alloc(14);
    this.headLength = 0;
    this.messages = 0;
    this.payloadBytes = 0;
    this.compressed = 0;
    this.protocolErrors = 0;
    this.closeReceived = false;
  }

  /** @returns the data messages completed by this chunk */
  feed(chunk) {
    const n = chunk.length;
    let i = 0;
    let done = 0;
    while (i < n) {
      if (this.skip > 0) {
        const take = Math.min(this.skip, n - i);
        this.skip -= take;
        i += take;
        if (this.data) this.payloadBytes += take;
        if (this.skip === 0) done += this.finish();
        continue;
      }
      if (this.headLength > 0) {
        // A header split across chunks: gather it byte by byte (rare, at most 13 bytes).
        while (i < n && this.headerSize(this.head, 0, this.headLength) === 0) this.head[this.headLength++] = chunk[i++];
        const size = this.headerSize(this.head, 0, this.headLength);
        if (size === 0) break;
        this.parse(this.head, 0);
        this.headLength = 0;
        if (this.skip === 0) done += this.finish();
        continue;
      }
      const size = this.headerSize(chunk, i, n - i);
      if (size === 0) {
        chunk.copy(this.head, 0, i, n);
        this.headLength = n - i;
        break;
      }
      this.parse(chunk, i);
      i += size;
      if (this.skip === 0) done += this.finish();
    }
    this.messages += done;
    return done;
  }

  // Header length if `available` bytes hold a whole header, else 0.
  headerSize(buf, at, available) {
    if (available < 2) return 0;
    const code = buf[at + 1] & 0x7f;
    const size = (code === 126 ? 4 : code === 127 ? 10 : 2) + (buf[at + 1] & 0x80 ? 4 : 0);
    return available >= size ? size : 0;
  }

  parse(buf, at) {
    const b0 = buf[at];
    const b1 = buf[at + 1];
    let length = b1 & 0x7f;
    if (length === 126) length = buf.readUInt16BE(at + 2);
    else if (length === 127) length = buf.readUInt32BE(at + 2) * 2 ** 32 + buf.readUInt32BE(at + 6);
    if (b1 & 0x80) this.protocolErrors++; // servers must not mask
    if (b0 & 0x40) this.compressed++;
    const opcode = b0 & 0x0f;
    if (opcode === 0x8) this.closeReceived = true;
    this.fin = (b0 & 0x80) !== 0;
    this.data = opcode < 0x8;
    this.skip = length;
  }

  finish() {
    return this.data && this.fin ? 1 : 0;
  }
}

// ---------------------------------------------------------------------------------------------- connections

function upgradeRequest(port, deflate) {
  return (
    `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n` +
    // No client_max_window_bits offered, so the server cannot shrink the window the pre-built frames assume.
    (deflate ? 'Sec-WebSocket-Extensions: permessage-deflate\r\n' : '') +
    '\r\n'
  );
}

/**
 * Connects and upgrades. Resolves paused, with the bytes that followed the 101 response, so the caller
 * attaches its reader before anything is lost.
 */
function openSocket(port, { deflate = false, timeoutMs = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.setNoDelay(true);
    let head = null;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('handshake timed out'));
    }, timeoutMs);
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('connect', () => socket.write(upgradeRequest(port, deflate)));
    const onData = (chunk) => {
      head = head ? Buffer.concat([head, chunk]) : chunk;
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      clearTimeout(timer);
      socket.pause();
      socket.off('data', onData);
      const text = head.toString('latin1', 0, end);
      if (!text.startsWith('HTTP/1.1 101')) {
        socket.destroy();
        reject(new Error(`upgrade refused: ${text.split('\r\n')[0]}`));
      } else if (!text.includes(`: ${ACCEPT}`) && !text.toLowerCase().includes(`:${ACCEPT.toLowerCase()}`)) {
        socket.destroy();
        reject(new Error('wrong Sec-WebSocket-Accept'));
      } else {
        const extensions = /^sec-websocket-extensions:[ \t]*(.*)$/im.exec(text)?.[1] ?? '';
        resolve({ socket, rest: head.subarray(end + 4), extensions });
      }
    };
    socket.on('data', onData);
  });
}

/** Starts reading an upgraded socket: `onChunk` sees the leftover bytes first, then every chunk. */
function startReading(conn, onChunk) {
  if (conn.rest.length > 0) onChunk(conn.rest);
  conn.socket.on('data', onChunk);
  conn.socket.resume();
}

async function openMany(port, count, concurrency, options) {
  const conns = [];
  let next = 0;
  async function worker() {
    while (next < count) {
      next++;
      conns.push(await openSocket(port, options));
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return conns;
}

// ---------------------------------------------------------------------------------------------- server + CPU

function processCpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clockTicks; // utime + stime
  } catch {
    return NaN;
  }
}

function processRss(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), peak: kb('VmHWM') };
  } catch {
    return { rss: NaN, peak: NaN };
  }
}

/** CPU seconds the whole machine spent busy (all cores), from the first line of /proc/stat. */
function machineBusySeconds() {
  try {
    const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).map(Number);
    const total = ticks.slice(0, 8).reduce((a, b) => a + b, 0);
    return (total - ticks[3] - ticks[4]) / clockTicks; // minus idle and iowait
  } catch {
    return NaN;
  }
}

/**
 * The measured window: wall time, and CPU of server and generator as fractions of one core; `otherCpu` is what
 * everything else on the machine used meanwhile (cores), so a noisy neighbour shows up next to the figure.
 */
function beginWindow(server) {
  const t0 = process.hrtime.bigint();
  const serverCpu0 = processCpuSeconds(server.pid);
  const machine0 = machineBusySeconds();
  const ownCpu0 = process.cpuUsage();
  return {
    end() {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const own = process.cpuUsage(ownCpu0);
      const serverCpu = (processCpuSeconds(server.pid) - serverCpu0) / seconds;
      const generatorCpu = (own.user + own.system) / 1e6 / seconds;
      const machineCpu = (machineBusySeconds() - machine0) / seconds;
      return { seconds, serverCpu, generatorCpu, otherCpu: Math.max(0, machineCpu - serverCpu - generatorCpu) };
    },
  };
}

function startServer({ script, env }) {
  return new Promise((resolve, reject) => {
    // BENCH_SERVER_NODE_ARGS adds flags for the server only, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
    const extra = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
    const child = spawn(process.execPath, ['--expose-gc', ...extra, script], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr = (stderr + d).slice(-4000);
    });
    const waiting = [];
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('server did not print READY within 15 s'));
    }, 15_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const lines = stderr.trim().split('\n');
      const cause = lines.find((l) => /Error|Cannot find/.test(l)) ?? lines[0];
      const reason = new Error(`server exited (${signal ?? code}) before it was done: ${cause}`);
      reject(reason);
      for (const w of waiting.splice(0)) w.reject(reason);
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('READY ')) {
        clearTimeout(timer);
        const [, port, ...info] = line.split(' ');
        resolve({
          pid: child.pid,
          port: Number(port),
          info: JSON.parse(info.join(' ') || '{}'),
          command(text) {
            return new Promise((res, rej) => {
              waiting.push({ resolve: res, reject: rej });
              child.stdin.write(`${text}\n`);
            });
          },
          stop() {
            return new Promise((res) => {
              if (child.exitCode !== null || child.signalCode !== null) return res();
              child.once('exit', () => res());
              if (extra.length === 0) {
                child.kill('SIGKILL');
                return;
              }
              // Flags like --cpu-prof write their output on a normal exit: close stdin, the server exits.
              child.stdin.end();
              setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
            });
          },
        });
      } else if (line.startsWith('OK ') || line.startsWith('ERR ')) {
        const w = waiting.shift();
        if (!w) return;
        if (line.startsWith('OK ')) w.resolve(JSON.parse(line.slice(3)));
        else w.reject(new Error(line.slice(4)));
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------- payloads

function binaryPayload(size) {
  const data = Buffer.allocUnsafe(size);
  let x = 0x9e3779b9;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    data[i] = x & 0xff;
  }
  return data;
}

/** Exactly `size` bytes of valid UTF-8 mixing 1- to 4-byte sequences, so validation has work to do. */
function textPayload(size) {
  const words = ['WebSocket', 'grüße', 'naïve', 'café', '文字化け', 'Ελληνικά', 'emoji 🚀', 'ok ✓', 'plain ascii text'];
  let text = '';
  for (let i = 0; Buffer.byteLength(text) < size; i++) text += `${words[i % words.length]} `;
  let bytes = Buffer.from(text);
  while (bytes.length > size) {
    text = text.slice(0, -1);
    bytes = Buffer.from(text);
  }
  return Buffer.concat([bytes, Buffer.alloc(size - bytes.length, 0x20)]);
}

/** JSON-like text of about `size` bytes: repetitive keys, varying values, as chat/state payloads look. */
function jsonPayload(size) {
  const items = [];
  for (let i = 0; JSON.stringify(items).length < size - 160; i++) {
    items.push({
      id: i,
      user: `user-${(i * 7919) % 1000}`,
      text: `Grüße aus Köln, message ${i}`,
      tags: ['chat', i % 3 ? 'eu' : 'us'],
      score: i * 1.5,
    });
  }
  const json = Buffer.from(JSON.stringify(items));
  return Buffer.concat([json, Buffer.alloc(Math.max(0, size - json.length), 0x20)]);
}

function deflatedFrame(opcode, payload) {
  // Sync flush and the trailing 00 00 ff ff removed, per RFC 7692; self-contained, so valid under context takeover.
  const compressed = deflateRawSync(payload, { finishFlush: zlibConstants.Z_SYNC_FLUSH });
  return maskedFrame(opcode, compressed.subarray(0, compressed.length - 4), { rsv1: true });
}

// ---------------------------------------------------------------------------------------------- scenarios

/** Echo with `inflight` messages outstanding per connection; a reply releases the next copy of the frame. */
async function echo(server, p) {
  const payload =
    p.payload === 'text' ? textPayload(p.size) : p.payload === 'json' ? jsonPayload(p.size) : binaryPayload(p.size);
  const opcode = p.payload === 'binary' ? 0x2 : 0x1;
  const frame = p.deflate ? deflatedFrame(opcode, payload) : maskedFrame(opcode, payload);
  const conns = await openMany(server.port, p.conns, 32, { deflate: p.deflate });
  const negotiated = conns.every((c) => /permessage-deflate/i.test(c.extensions));
  if (p.deflate && !negotiated) throw new Error('permessage-deflate was not negotiated');
  const burst = Buffer.concat(Array.from({ length: p.inflight }, () => frame));
  const counters = [];
  const samples = p.latency ? new Float64Array(p.maxSamples) : null;
  let sampleCount = 0;
  let measuring = false;
  let running = true;
  for (const conn of conns) {
    const counter = new FrameCounter();
    counters.push(counter);
    let sentAt = 0n;
    startReading(conn, (chunk) => {
      const k = counter.feed(chunk);
      if (k === 0 || !running) return;
      if (samples) {
        const now = process.hrtime.bigint();
        if (measuring && sampleCount < samples.length) samples[sampleCount++] = Number(now - sentAt) / 1e3;
        sentAt = now;
      }
      conn.socket.write(k <= p.inflight ? burst.subarray(0, k * frame.length) : burst);
    });
    sentAt = process.hrtime.bigint();
    conn.socket.write(burst);
  }
  const totals = () => counters.reduce((t, c) => [t[0] + c.messages, t[1] + c.payloadBytes], [0, 0]);
  await sleep(p.warmupMs);
  const [m0, b0] = totals();
  measuring = true;
  const window = beginWindow(server);
  await sleep(p.durationMs);
  const [m1, b1] = totals();
  const cpu = window.end();
  measuring = false;
  running = false;
  const memory = processRss(server.pid);
  const errors = counters.reduce((t, c) => t + c.protocolErrors, 0);
  const closed = counters.filter((c) => c.closeReceived).length;
  await server.stop();
  for (const conn of conns) conn.socket.destroy();
  if (errors > 0) throw new Error(`${errors} masked server frames`);
  if (closed > 0) throw new Error(`server closed ${closed} connections during the run`);
  // Replies must be echoes: payload bytes match messages × size, give or take a frame in progress per connection.
  if (!p.deflate && Math.abs(b1 - b0 - (m1 - m0) * payload.length) > p.conns * payload.length) {
    throw new Error(`replies carried ${b1 - b0} payload bytes for ${m1 - m0} messages of ${payload.length}`);
  }
  const metrics = {
    msgsPerSec: (m1 - m0) / cpu.seconds,
    MBps: (b1 - b0) / 1e6 / cpu.seconds,
    rssMB: memory.rss / 1e6,
    peakRssMB: memory.peak / 1e6,
  };
  if (samples) {
    const sorted = samples.subarray(0, sampleCount).sort();
    const pick = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
    Object.assign(metrics, { p50us: pick(0.5), p99us: pick(0.99), samples: sampleCount });
  }
  return {
    metrics,
    cpu,
    detail: {
      frameBytes: frame.length,
      payloadBytes: payload.length,
      compressedReplies: counters.reduce((t, c) => t + c.compressed, 0),
      extensions: conns[0].extensions,
    },
  };
}

/** Full connection lifecycles with `inflight` in parallel: connect, upgrade, close frame, wait for TCP close. */
async function handshakes(server, p) {
  let upgrades = 0;
  let failures = 0;
  let running = true;
  async function lifecycle() {
    const conn = await openSocket(server.port, { timeoutMs: 5_000 });
    upgrades++;
    await new Promise((resolve) => {
      const timer = setTimeout(() => conn.socket.destroy(), 5_000);
      conn.socket.on('close', () => {
        clearTimeout(timer);
        resolve();
      });
      startReading(conn, () => {});
      conn.socket.write(CLOSE_FRAME);
    });
  }
  async function loop() {
    while (running) {
      try {
        await lifecycle();
      } catch {
        if (++failures > 100) running = false;
      }
    }
  }
  const loops = Array.from({ length: p.inflight }, loop);
  await sleep(p.warmupMs);
  const u0 = upgrades;
  const window = beginWindow(server);
  await sleep(p.durationMs);
  const u1 = upgrades;
  const cpu = window.end();
  running = false;
  await Promise.race([Promise.all(loops), sleep(6_000)]);
  await server.stop();
  if (failures > 100) throw new Error('more than 100 failed handshakes');
  return { metrics: { handshakesPerSec: (u1 - u0) / cpu.seconds }, cpu, detail: { failures } };
}

/** Heap and RSS per idle connection: after-GC figures with `conns` open, minus the empty server's. */
async function idleMemory(server, p) {
  await sleep(200);
  const before = await server.command('mem');
  const started = Date.now();
  const conns = await openMany(server.port, p.conns, p.concurrency, {});
  const openMs = Date.now() - started;
  for (const conn of conns) startReading(conn, () => {});
  await sleep(p.settleMs);
  const after = await server.command('mem');
  await server.stop();
  for (const conn of conns) conn.socket.destroy();
  if (after.clients !== p.conns) throw new Error(`server reports ${after.clients} clients, expected ${p.conns}`);
  return {
    metrics: {
      heapPerConn: (after.heapUsed - before.heapUsed) / p.conns,
      rssPerConn: (after.rss - before.rss) / p.conns,
      externalPerConn: (after.external - before.external) / p.conns,
    },
    cpu: null,
    detail: { conns: p.conns, openMs, before, after },
  };
}

/**
 * Time from the broadcast trigger until every client has every message. With `repeat` > 1 the trigger is
 * sent that many times, each after the previous one was fully delivered, and the median is reported (the
 * delivery time of a broadcast on an otherwise idle server).
 */
async function broadcast(server, p) {
  const conns = await openMany(server.port, p.clients, p.concurrency, {});
  const repeat = p.repeat ?? 1;
  let expected = 0;
  let received = 0;
  let finished = () => {};
  let finishedAt = 0n;
  for (const conn of conns) {
    const counter = new FrameCounter();
    startReading(conn, (chunk) => {
      received += counter.feed(chunk);
      if (received >= expected && finishedAt === 0n) {
        finishedAt = process.hrtime.bigint();
        finished();
      }
    });
  }
  await sleep(300);
  const window = beginWindow(server);
  const deliveries = [];
  const replies = [];
  for (let r = 0; r < repeat; r++) {
    expected += p.clients * p.times;
    finishedAt = 0n;
    const done = new Promise((resolve) => {
      finished = resolve;
    });
    const t0 = process.hrtime.bigint();
    const reply = server.command(`broadcast ${p.times} ${p.size} ${p.mode ?? 'turns'}`);
    await Promise.race([done, sleep(p.timeoutMs)]);
    if (finishedAt === 0n) break;
    deliveries.push(Number(finishedAt - t0) / 1e6);
    replies.push(await Promise.race([reply, sleep(p.timeoutMs).then(() => ({}))]));
  }
  const cpu = window.end();
  await server.stop();
  for (const conn of conns) conn.socket.destroy();
  if (deliveries.length < repeat)
    throw new Error(`only ${received} of ${expected} messages arrived within ${p.timeoutMs} ms`);
  const deliveryMs = median(deliveries);
  const mean = (key) => replies.reduce((sum, r) => sum + (r[key] ?? NaN), 0) / replies.length;
  return {
    metrics: {
      deliveryMs,
      msgsPerSec: (p.clients * p.times) / (deliveryMs / 1e3),
      fanoutMs: mean('fanoutMs'),
      fanoutUserMs: mean('fanoutUserMs'),
      fanoutSystemMs: mean('fanoutSystemMs'),
      serverCpuMsPerBroadcast: (cpu.serverCpu * cpu.seconds * 1e3) / (p.times * repeat),
    },
    cpu,
    detail: {
      clients: p.clients,
      times: p.times,
      repeat,
      size: p.size,
      serverSendMs: mean('sendMs'),
      path: replies[0]?.path,
    },
  };
}

async function probe(server) {
  await server.stop();
  return { metrics: {}, cpu: null, detail: {} };
}

const scenarios = { echo, handshakes, idleMemory, broadcast, probe };

// ---------------------------------------------------------------------------------------------- main

const spec = JSON.parse(process.argv[2] ?? '{}');
let server = null;
try {
  const run = scenarios[spec.scenario];
  if (!run) throw new Error(`unknown scenario ${spec.scenario}`);
  server = await startServer(spec.server);
  const result = await run(server, spec.params ?? {});
  process.stdout.write(`RESULT ${JSON.stringify({ ok: true, info: server.info, ...result })}\n`);
  process.exit(0);
} catch (error) {
  await server?.stop();
  process.stdout.write(`RESULT ${JSON.stringify({ ok: false, error: String(error?.message ?? error) })}\n`);
  process.exit(1);
}
