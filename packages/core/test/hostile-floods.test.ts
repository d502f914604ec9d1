/**
 * The attacks of issue 15, each in both roles: a raw peer on loopback floods a wskit endpoint that runs
 * in a child process (built package), and the test asserts the close code or termination and a bound on
 * the endpoint's RSS growth (under 64 MiB; ws 8.23 stays within 0–72 MiB on the same floods; floods of
 * compressed messages: see GARBAGE_BOUND). Every flood is bounded in bytes and time, so a regression
 * fails in seconds instead of exhausting the machine.
 */
import { deflateRawSync, constants as zlibConstants } from 'node:zlib';
import type { Socket } from 'node:net';
import { ensureBuilt } from '../../../test/helpers/built.js';
import { rawServer, rawUpgraded, type ParsedFrame } from './helpers.js';
import {
  MiB,
  attackFrame,
  closeCodeOf,
  flood,
  procStats,
  repeatFrames,
  rssWatch,
  startTarget,
  type Target,
} from './fixtures/hostile.js';

const BOUND = 64 * MiB;
/** For floods whose RSS peak is set by V8's collection of dead Buffers (inflated messages, deferred events). */
const GARBAGE_BOUND = 128 * MiB;
const OP = { cont: 0, text: 1, binary: 2, ping: 9 } as const;

beforeAll(() => ensureBuilt('core'), 120_000);

interface Attacker {
  socket: Socket;
  frames: ParsedFrame[];
  target: Target;
  masked: boolean;
  close: () => Promise<void>;
}

/** Starts the endpoint in `role` and connects a raw attacker to it (the attacker's offer: `extensions`). */
async function attack(role: 'server' | 'client', spec: object, extensions?: string): Promise<Attacker> {
  if (role === 'server') {
    const target = await startTarget('server', spec);
    const headers: Record<string, string> = extensions ? { 'Sec-WebSocket-Extensions': extensions } : {};
    const client = await rawUpgraded(target.peer.port, { headers });
    expect(await target.line('OPEN', 5000)).toBeDefined();
    return {
      socket: client.socket,
      frames: client.frames,
      target,
      masked: true,
      close: async () => {
        client.socket.destroy();
        await target.stop();
      },
    };
  }
  let resolvePeer!: (peer: { socket: Socket; frames: ParsedFrame[] }) => void;
  const gotPeer = new Promise<{ socket: Socket; frames: ParsedFrame[] }>((resolve) => (resolvePeer = resolve));
  const server = await rawServer((peer) => {
    peer.accept(extensions ? { 'Sec-WebSocket-Extensions': extensions } : {});
    resolvePeer(peer);
  });
  const target = await startTarget('client', spec, server.url);
  const peer = await gotPeer;
  expect(await target.line('OPEN', 5000)).toBeDefined();
  return {
    socket: peer.socket,
    frames: peer.frames,
    target,
    masked: false,
    close: async () => {
      await server.close();
      await target.stop();
    },
  };
}

function report(what: string, figures: Record<string, string | number | undefined>): void {
  console.log(
    `${what}: ${Object.entries(figures)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
}

const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

/** 1 KB of deflate data that inflates to 1 MiB (no final block: repeatable under context takeover). */
function compressedMiB(): Buffer {
  const out = deflateRawSync(Buffer.alloc(MiB, 'a'), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

describe.each(['server', 'client'] as const)('%s role under attack', (role) => {
  test('20M one-byte continuation frames: closed with 1008 after maxFragments (16,384), RSS bounded', async () => {
    const a = await attack(role, {});
    try {
      const watch = rssWatch(a.target.pid);
      a.socket.write(attackFrame(OP.binary, Buffer.from([1]), a.masked, { fin: false }));
      const block = repeatFrames(attackFrame(OP.cont, Buffer.from([1]), a.masked, { fin: false }), 10_000);
      const closed = a.target.line('CLOSE', 15_000);
      const written = await flood(a.socket, block, {
        maxBytes: (20_000_000 * block.length) / 10_000,
        ms: 8000,
        stop: () => closeCodeOf(a.frames) !== undefined || a.target.peer.lines.some((l) => l.startsWith('CLOSE')),
      });
      const { growth } = watch.stop();
      const error = await a.target.line('ERROR', 5000);
      a.socket.end();
      await closed;
      report(`${role}: one-byte fragments`, {
        written: mib(written),
        close: closeCodeOf(a.frames),
        error,
        'RSS growth': mib(growth),
      });
      expect(error).toBe('ERROR WS_ERR_TOO_MANY_BUFFERED_PARTS 1008');
      expect(closeCodeOf(a.frames)).toBe(1008);
      expect(growth).toBeLessThan(BOUND);
    } finally {
      await a.close();
    }
  }, 30_000);

  test('maxFragments off, maxPayload 1 MiB: 1M one-byte fragments end with 1009; memory per fragment is constant', async () => {
    const a = await attack(role, { options: { maxFragments: 0, maxPayload: MiB } });
    try {
      const watch = rssWatch(a.target.pid);
      a.socket.write(attackFrame(OP.binary, Buffer.from([1]), a.masked, { fin: false }));
      const block = repeatFrames(attackFrame(OP.cont, Buffer.from([1]), a.masked, { fin: false }), 10_000);
      const written = await flood(a.socket, block, {
        maxBytes: 110 * block.length,
        ms: 10_000,
        stop: () => a.target.peer.lines.some((l) => l.startsWith('ERROR')),
      });
      const error = await a.target.line('ERROR', 10_000);
      const { growth } = watch.stop();
      report(`${role}: 1M one-byte fragments, maxFragments 0`, {
        written: mib(written),
        error,
        'RSS growth': mib(growth),
      });
      expect(error).toBe('ERROR WS_ERR_UNSUPPORTED_MESSAGE_LENGTH 1009');
      expect(growth).toBeLessThan(BOUND);
    } finally {
      await a.close();
    }
  }, 30_000);

  test('compressed flood (1 KB inflating to 1 MiB) at full speed: input paused while inflating, RSS bounded', async () => {
    const a = await attack(role, { options: { perMessageDeflate: true } }, 'permessage-deflate');
    try {
      const block = repeatFrames(attackFrame(OP.binary, compressedMiB(), a.masked, { rsv1: true }), 64);
      const heldBefore = await a.target.heldMemory();
      const watch = rssWatch(a.target.pid);
      const written = await flood(a.socket, block, { maxBytes: 2 * 1024 * MiB, ms: 3000 });
      const { growth } = watch.stop();
      // Asked while the peer's backlog still waits in the kernel and a message may be inflating.
      const held = (await a.target.heldMemory()) - heldBefore;
      a.socket.resetAndDestroy();
      const close = await a.target.line('CLOSE', 10_000);
      report(`${role}: compressed flood`, {
        written: mib(written),
        close,
        'RSS growth': mib(growth),
        'held after GC': mib(held),
      });
      expect(a.target.peer.lines.some((l) => l.startsWith('ERROR'))).toBe(false);
      // Without receive backpressure the peer got gigabytes in; paused while inflating, a few megabytes.
      expect(written).toBeLessThan(64 * MiB);
      // What the endpoint keeps: the message being inflated, the receive buffer, zlib's window.
      expect(held).toBeLessThan(8 * MiB);
      // The RSS peak here is mostly garbage: every message leaves 2 MiB of dead Buffers (zlib's output
      // chunks and the assembled 1 MiB), allocated at ~1 GB/s, and V8 collects ArrayBuffers only after
      // about 64 MiB of them have piled up since the last GC. Node 20 peaks at 40-70 MiB, Node 24 (V8 13)
      // at 78-89 MiB, and ws 8.23 at 78-102 MiB on Node 24 on this flood; the bound catches buffering
      // of the backlog (gigabytes), `held` the memory wskit keeps.
      expect(growth).toBeLessThan(GARBAGE_BOUND);
    } finally {
      await a.close();
    }
  }, 30_000);

  test('compressed flood, then the peer resets: inflation of its backlog stops (little CPU afterwards)', async () => {
    const a = await attack(role, { options: { perMessageDeflate: true } }, 'permessage-deflate');
    try {
      const block = repeatFrames(attackFrame(OP.binary, compressedMiB(), a.masked, { rsv1: true }), 64);
      await flood(a.socket, block, { maxBytes: 208 * MiB, ms: 1500 });
      const before = procStats(a.target.pid).cpu;
      a.socket.resetAndDestroy();
      const close = await a.target.line('CLOSE', 10_000);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const cpu = procStats(a.target.pid).cpu - before;
      report(`${role}: compressed flood then reset`, { close, 'CPU after reset': `${cpu.toFixed(2)} s` });
      expect(close).toMatch(/^CLOSE 1006 /);
      expect(cpu).toBeLessThan(0.5);
    } finally {
      await a.close();
    }
  }, 30_000);

  test('allowSynchronousEvents false, 16-byte messages at full speed: input paused while events wait, RSS bounded', async () => {
    const a = await attack(role, { options: { allowSynchronousEvents: false } });
    try {
      const block = repeatFrames(attackFrame(OP.binary, Buffer.alloc(16, 7), a.masked), 4096);
      const heldBefore = await a.target.heldMemory();
      const watch = rssWatch(a.target.pid);
      const written = await flood(a.socket, block, { maxBytes: 2 * 1024 * MiB, ms: 3000 });
      const { growth } = watch.stop();
      // Asked while the peer's backlog still waits in the kernel and events are still queued.
      const held = (await a.target.heldMemory()) - heldBefore;
      a.socket.resetAndDestroy();
      const close = await a.target.line('CLOSE', 10_000);
      report(`${role}: allowSynchronousEvents false flood`, {
        written: mib(written),
        close,
        'RSS growth': mib(growth),
        'held after GC': mib(held),
      });
      expect(written).toBeLessThan(256 * MiB);
      expect(held).toBeLessThan(8 * MiB);
      // Each message is a slice of its read chunk and waits a turn of the event loop, so the chunks outlive
      // a scavenge and stay until V8's next full collection (~64 MiB of them): measured 69-72 MiB peak growth
      // on a fast machine (Node 20) with 0.5 MiB held after GC. `held` is the bound on what wskit keeps.
      expect(growth).toBeLessThan(GARBAGE_BOUND);
    } finally {
      await a.close();
    }
  }, 30_000);

  test.each([
    ['maxPendingAutoPongs (default 60)', {}, 'too many pending pongs'],
    [
      'maxBufferedAmount 256 KiB',
      { maxPendingAutoPongs: 0, maxBufferedAmount: 256 * 1024 },
      'send buffer limit exceeded',
    ],
  ])(
    '1M pings, the peer never reads: terminated by %s, RSS bounded',
    async (_label, options, reason) => {
      const a = await attack(role, { options });
      try {
        // The attacker stops reading: the pongs pile up in the kernel, then in the endpoint.
        a.socket.pause();
        const block = repeatFrames(attackFrame(OP.ping, Buffer.alloc(125, 1), a.masked), 1000);
        const watch = rssWatch(a.target.pid);
        const written = await flood(a.socket, block, {
          maxBytes: 1000 * block.length,
          ms: 8000,
          stop: () => a.target.peer.lines.some((l) => l.startsWith('CLOSE')),
        });
        const close = await a.target.line('CLOSE', 10_000);
        const { growth } = watch.stop();
        report(`${role}: ping flood (${_label})`, { written: mib(written), close, 'RSS growth': mib(growth) });
        expect(close).toMatch(new RegExp(`^CLOSE 1006 \\d+ \\d+ ${reason}$`));
        expect(growth).toBeLessThan(BOUND);
      } finally {
        await a.close();
      }
    },
    30_000,
  );

  test('compressed sends in bursts the deflate worker shares, the peer never reads: maxBufferedAmount ends it, RSS bounded', async () => {
    // No context takeover on the endpoint's side, so its bursts go partly to the worker; random bytes do not
    // shrink, so what waits in the worker counts as it will on the wire.
    const deflate =
      role === 'server'
        ? { threshold: 0 }
        : { threshold: 0, clientNoContextTakeover: true, serverNoContextTakeover: false };
    const offer = role === 'server' ? 'server_no_context_takeover' : 'client_no_context_takeover';
    const a = await attack(
      role,
      {
        options: { perMessageDeflate: deflate, maxBufferedAmount: 4 * MiB },
        // A turn every 10 ms, so the worker (started by the first burst) usually answers before the limit is
        // reached; on a loaded machine it may not have started yet, and what it holds counts all the same.
        send: { size: 8 * 1024, perTurn: 64, turns: 400, everyMs: 10 },
      },
      `permessage-deflate; ${offer}`,
    );
    try {
      a.socket.pause();
      const watch = rssWatch(a.target.pid);
      a.target.peer.child.stdin.write('SEND\n');
      const close = await a.target.line('CLOSE', 20_000);
      const { growth } = watch.stop();
      const [, sent, offloaded, answered] = (await a.target.line('SENT', 1000))!.split(' ').map(Number);
      report(`${role}: compressed bursts to a peer that never reads`, {
        sent,
        'handed to the worker': offloaded,
        'answered by it': answered,
        close,
        'RSS growth': mib(growth),
      });
      expect(close).toMatch(/^CLOSE 1006 \d+ \d+ send buffer limit exceeded$/);
      expect(offloaded).toBeGreaterThan(0);
      // Not the 400 × 64 the loop would send if nothing stopped it.
      expect(sent).toBeLessThan(400 * 64);
      expect(growth).toBeLessThan(BOUND);
    } finally {
      await a.close();
    }
  }, 30_000);
});
