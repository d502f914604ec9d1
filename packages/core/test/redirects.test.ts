/**
 * followRedirects never leaks credentials: a redirect to another host:port, or from wss: down to ws: (on the
 * same host too), drops Authorization, Cookie (any letter case) and credentials from the URL or the `auth`
 * option; a user-set Host header is dropped when the host changes. Real redirecting servers on 127.0.0.1:
 * two ports are two hosts (host:port is what ws 8.23 compares, against the first request's). ws runs the same
 * cases as the control.
 */
import { once } from 'node:events';
import * as http from 'node:http';
import * as https from 'node:https';
import {
  connect,
  createServer as createNetServer,
  type AddressInfo,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer as WsServer, type WebSocket as WsSocket } from 'ws';
import { implementations } from '../../../test/helpers/implementations.js';
import { selfSignedCertificate } from '../../../test/helpers/tls.js';
import { within } from './helpers.js';

interface Seen {
  secure: boolean;
  path: string;
  /** Header name (lower case) → values, from the raw request. */
  headers: Map<string, string[]>;
}

/**
 * One port that speaks both TLS and plain HTTP (the first byte tells), so that wss://127.0.0.1:P and
 * ws://127.0.0.1:P are the same host:port. `route(path, secure)` returns a Location to redirect to, or null to
 * accept the WebSocket (the server then sends 'landed').
 */
interface Hop {
  port: number;
  seen: Seen[];
  close(): Promise<void>;
}

let cert: Buffer;
let key: Buffer;
const hops: Hop[] = [];

beforeAll(() => {
  ({ cert, key } = selfSignedCertificate());
});

afterEach(async () => {
  for (const hop of hops.splice(0)) await hop.close();
});

async function hop(route: (path: string, secure: boolean) => string | null): Promise<Hop> {
  const seen: Seen[] = [];
  const wss = new WsServer({ noServer: true });
  const sockets = new Set<Duplex>();
  const onUpgrade =
    (secure: boolean) =>
    (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
      const headers = new Map<string, string[]>();
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const name = req.rawHeaders[i]!.toLowerCase();
        headers.set(name, [...(headers.get(name) ?? []), req.rawHeaders[i + 1]!]);
      }
      seen.push({ secure, path: req.url ?? '', headers });
      const location = route(req.url ?? '', secure);
      if (location !== null) {
        socket.end(`HTTP/1.1 302 Found\r\nLocation: ${location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws: WsSocket) => ws.send('landed'));
    };
  const plain = http.createServer();
  const tls = https.createServer({ cert, key });
  plain.on('upgrade', onUpgrade(false));
  tls.on('upgrade', onUpgrade(true));
  // TLS is served on an inner port and spliced through (a TLS socket cannot take over bytes already read).
  tls.listen(0, '127.0.0.1');
  await once(tls, 'listening');
  const tlsPort = (tls.address() as AddressInfo).port;
  const front: NetServer = createNetServer((socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.once('data', (first: Buffer) => {
      // 0x16: a TLS handshake record.
      if (first[0] === 0x16) {
        const inner = connect(tlsPort, '127.0.0.1');
        sockets.add(inner);
        inner.on('close', () => socket.destroy());
        inner.on('error', () => inner.destroy());
        socket.on('close', () => inner.destroy());
        inner.write(first);
        socket.pipe(inner).pipe(socket);
        return;
      }
      socket.pause();
      socket.unshift(first);
      plain.emit('connection', socket);
      socket.resume();
    });
  });
  front.listen(0, '127.0.0.1');
  await once(front, 'listening');
  const result: Hop = {
    port: (front.address() as AddressInfo).port,
    seen,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => front.close(resolve));
      tls.closeAllConnections();
      await new Promise((resolve) => tls.close(resolve));
    },
  };
  hops.push(result);
  return result;
}

const SECRET_HEADERS = {
  AUTHORIZATION: 'Bearer top-secret',
  Cookie: 'session=abc',
  'x-keep': 'kept',
};

describe.each(implementations)('redirect credentials: $name', (impl) => {
  /** Connects with followRedirects and resolves once the final server sent 'landed'. */
  async function follow(url: string, options: Record<string, unknown> = {}): Promise<void> {
    const ws = new impl.WebSocket(url, { followRedirects: true, ca: cert, perMessageDeflate: false, ...options });
    try {
      const landed = await within(
        new Promise<string>((resolve, reject) => {
          ws.on('message', (data) => resolve(String(data)));
          ws.on('error', reject);
        }),
        10_000,
        'landing',
      );
      expect(landed).toBe('landed');
    } finally {
      ws.terminate();
    }
  }

  const header = (seen: Seen | undefined, name: string): string[] | undefined => seen?.headers.get(name);

  test('to another port: Authorization, Cookie, Host and URL credentials are dropped, other headers kept', async () => {
    const target = await hop(() => null);
    const start = await hop(() => `ws://127.0.0.1:${target.port}/landed`);
    await follow(`ws://user:pass@127.0.0.1:${start.port}/start`, {
      headers: { AUTHORIZATION: 'Bearer top-secret', cOOkie: 'session=abc', 'x-keep': 'kept', HoSt: 'custom.example' },
    });
    const first = start.seen[0];
    expect(header(first, 'authorization')).toEqual(['Bearer top-secret']);
    expect(header(first, 'cookie')).toEqual(['session=abc']);
    expect(header(first, 'host')).toEqual(['custom.example']);
    const last = target.seen[0];
    expect(last?.path).toBe('/landed');
    expect(header(last, 'authorization')).toBeUndefined();
    expect(header(last, 'cookie')).toBeUndefined();
    expect(header(last, 'host')).toEqual([`127.0.0.1:${target.port}`]);
    expect(header(last, 'x-keep')).toEqual(['kept']);
  });

  test('the `auth` option is not sent to another host', async () => {
    const target = await hop(() => null);
    const start = await hop(() => `ws://127.0.0.1:${target.port}/`);
    await follow(`ws://127.0.0.1:${start.port}/`, { auth: 'name:word' });
    expect(header(start.seen[0], 'authorization')).toEqual([`Basic ${Buffer.from('name:word').toString('base64')}`]);
    expect(header(target.seen[0], 'authorization')).toBeUndefined();
  });

  test('on the same host:port everything is kept (a relative Location keeps URL credentials)', async () => {
    const same = await hop((path) => (path === '/start' ? '/landed' : null));
    await follow(`ws://user:pass@127.0.0.1:${same.port}/start`, {
      headers: { Cookie: 'session=abc', Host: 'custom.example' },
    });
    expect(same.seen.map((s) => s.path)).toEqual(['/start', '/landed']);
    const last = same.seen[1];
    expect(header(last, 'authorization')).toEqual([`Basic ${Buffer.from('user:pass').toString('base64')}`]);
    expect(header(last, 'cookie')).toEqual(['session=abc']);
    expect(header(last, 'host')).toEqual(['custom.example']);
  });

  test('wss: to ws: on the same host:port drops credentials (never sent in clear text); Host stays', async () => {
    const same = await hop((path, secure) => (secure ? `ws://127.0.0.1:${same.port}/plain` : null));
    await follow(`wss://127.0.0.1:${same.port}/start`, {
      headers: { ...SECRET_HEADERS, host: `127.0.0.1:${same.port}` },
      auth: 'name:word',
    });
    expect(same.seen.map((s) => [s.secure, s.path])).toEqual([
      [true, '/start'],
      [false, '/plain'],
    ]);
    expect(header(same.seen[0], 'authorization')).toEqual(['Bearer top-secret']);
    const last = same.seen[1];
    expect(header(last, 'authorization')).toBeUndefined();
    expect(header(last, 'cookie')).toBeUndefined();
    expect(header(last, 'x-keep')).toEqual(['kept']);
    expect(header(last, 'host')).toEqual([`127.0.0.1:${same.port}`]);
  });

  test('ws: to wss: on the same host keeps them (an upgrade, not a downgrade)', async () => {
    const same = await hop((path, secure) => (secure ? null : `wss://127.0.0.1:${same.port}/tls`));
    await follow(`ws://127.0.0.1:${same.port}/start`, { headers: { Authorization: 'Bearer t' } });
    expect(same.seen.map((s) => s.secure)).toEqual([false, true]);
    expect(header(same.seen[1], 'authorization')).toEqual(['Bearer t']);
  });

  test('judged against the first request: A → B → A sends them to A again, never to B', async () => {
    // eslint-disable-next-line prefer-const -- read by b's redirect before it is assigned
    let a: Hop | undefined;
    const b = await hop(() => `ws://127.0.0.1:${a!.port}/back`);
    a = await hop((path) => (path === '/start' ? `ws://127.0.0.1:${b.port}/b` : null));
    await follow(`ws://127.0.0.1:${a.port}/start`, { headers: { authorization: 'Bearer t', COOKIE: 'c=1' } });
    expect(header(b.seen[0], 'authorization')).toBeUndefined();
    expect(header(b.seen[0], 'cookie')).toBeUndefined();
    expect(a.seen.map((s) => s.path)).toEqual(['/start', '/back']);
    expect(header(a.seen[1], 'authorization')).toEqual(['Bearer t']);
    expect(header(a.seen[1], 'cookie')).toEqual(['c=1']);
  });

  test('localhost and 127.0.0.1 are different hosts', async () => {
    const target = await hop(() => null);
    const start = await hop(() => `ws://localhost:${target.port}/`);
    await follow(`ws://127.0.0.1:${start.port}/`, { headers: { Authorization: 'Bearer t' } });
    expect(header(target.seen[0], 'authorization')).toBeUndefined();
  });
});
