import Koa from 'koa';
import type { WebSocket } from '@wskit/core';
import type { KoaWebSocketOptions } from '@wskit/koa';
import { open, serveKoa } from './helpers.js';

// The core's per-connection and handshake options reach a route's sockets, plugin-wide or per route, as the
// shared option table promises ("per route: the core's ServerOptions").
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve(
  options: KoaWebSocketOptions,
  route: Parameters<NonNullable<Koa.Context['ws']>>[0] = {},
  onSocket: (ws: WebSocket) => void = () => {},
): Promise<string> {
  const { base } = await serveKoa(
    Koa,
    (app) =>
      app.use(async (ctx) => {
        if (ctx.ws) onSocket(await ctx.ws(route));
      }),
    options,
    cleanups,
  );
  return `${base}/`;
}

describe('@wskit/koa passes the core options through', () => {
  test('autoPong: false per route: a ping gets no automatic pong, the route sees it', async () => {
    let pinged!: () => void;
    const sawPing = new Promise<void>((resolve) => (pinged = resolve));
    const url = await serve({}, { autoPong: false }, (socket) => socket.on('ping', () => pinged()));
    const client = await open(url);
    cleanups.push(() => client.terminate());
    let ponged = false;
    client.on('pong', () => (ponged = true));
    client.ping();
    await sawPing;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(ponged).toBe(false);
  });

  test('verifyClient plugin-wide refuses the handshake with its status', async () => {
    const url = await serve({
      verifyClient: (_info: unknown, done: (ok: boolean, code?: number, message?: string) => void) =>
        done(false, 401, 'No token'),
    });
    await expect(open(url)).rejects.toThrow(/401/);
  });

  test('maxFragments per route: a message in too many fragments closes with 1008', async () => {
    const url = await serve({}, { maxFragments: 2 });
    const client = await open(url);
    const closed = new Promise<number>((resolve) => client.on('close', (code) => resolve(code)));
    client.send('a', { fin: false });
    client.send('b', { fin: false });
    client.send('c', { fin: true });
    expect(await closed).toBe(1008);
  });
});
