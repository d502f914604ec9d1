// Control channel shared by every bench server: one command per stdin line, one reply line per command on
// stdout ("OK <json>" or "ERR <message>"). Keeps measurement plumbing out of the servers' data paths.
import { createInterface } from 'node:readline';
import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * @param {object} server
 * @param {number} server.port              the listening port, announced as "READY <port> <info>"
 * @param {Record<string, unknown>} server.info  what the server is (implementation, native add-ons, ...)
 * @param {() => number} server.clientCount   open WebSocket connections right now
 * @param {(data: Buffer) => string} server.broadcast  send data to every client once; returns the path used
 */
export function serveControl({ port, info, clientCount, broadcast }) {
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const [command, ...args] = line.trim().split(/\s+/);
    handle(command, args).then(
      (result) => process.stdout.write(`OK ${JSON.stringify(result)}\n`),
      (error) => process.stdout.write(`ERR ${String(error?.message ?? error).replace(/\n/g, ' ')}\n`),
    );
  });
  // The parent going away must not leave a server behind.
  lines.on('close', () => process.exit(0));

  async function handle(command, args) {
    switch (command) {
      case 'mem':
        return memory();
      case 'broadcast':
        return runBroadcast(Number(args[0]), Number(args[1]), args[2] ?? 'turns');
      case 'exit':
        setTimeout(() => process.exit(0), 10);
        return {};
      default:
        throw new Error(`unknown command ${command}`);
    }
  }

  async function memory() {
    // Several passes with turns in between so weak callbacks and finalizers run before the numbers are read.
    if (typeof globalThis.gc !== 'function') throw new Error('start the server with --expose-gc');
    for (let i = 0; i < 4; i++) {
      globalThis.gc();
      await nextTurn();
    }
    const m = process.memoryUsage();
    return {
      heapUsed: m.heapUsed,
      rss: m.rss,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      clients: clientCount(),
    };
  }

  async function runBroadcast(times, size, mode) {
    if (!(times > 0 && times <= 100_000 && size > 0 && size <= 1 << 20)) throw new Error('bad broadcast arguments');
    if (mode !== 'turns' && mode !== 'burst') throw new Error(`bad broadcast mode ${mode}`);
    const data = Buffer.alloc(size, 0x61);
    const started = process.hrtime.bigint();
    let path = '';
    // CPU from the call until the ticks it queued have run, split into user and system. A loop of send
    // writes inside that span; wskit's broadcast writes later, in the fan-out pump's turns, so for it this
    // is only the queueing part. The bench's cost figure is the server's whole CPU over the window.
    let fanoutNs = 0n;
    let userUs = 0;
    let systemUs = 0;
    if (mode === 'burst') {
      // Every broadcast in one synchronous loop (a game tick, a replay): what a library can coalesce, it may.
      const cpu0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < times; i++) path = broadcast(data);
      await new Promise((resolve) => process.nextTick(resolve));
      fanoutNs = process.hrtime.bigint() - t0;
      const cpu = process.cpuUsage(cpu0);
      userUs = cpu.user;
      systemUs = cpu.system;
    }
    // One broadcast per event-loop turn: each is a separate event, and sockets get to flush in between.
    for (let i = 0; mode === 'turns' && i < times; i++) {
      const cpu0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      path = broadcast(data);
      await new Promise((resolve) => process.nextTick(resolve));
      fanoutNs += process.hrtime.bigint() - t0;
      const cpu = process.cpuUsage(cpu0);
      userUs += cpu.user;
      systemUs += cpu.system;
      await nextTurn();
    }
    const sendMs = Number(process.hrtime.bigint() - started) / 1e6;
    return {
      sendMs,
      path,
      clients: clientCount(),
      fanoutMs: Number(fanoutNs) / 1e6 / times,
      fanoutUserMs: userUs / 1e3 / times,
      fanoutSystemMs: systemUs / 1e3 / times,
    };
  }

  process.stdout.write(`READY ${port} ${JSON.stringify(info)}\n`);
}
