import http from 'node:http';
import Koa from 'koa';
import { ClientSet, websocket, type KoaWebSocketMiddleware, type KoaWebSocketOptions } from '@wskit/koa';
import { closed, delay, listening, nextMessage, open, refusal, serveKoa, type KoaHarness } from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function start(
  setup: (app: Koa, ws: KoaWebSocketMiddleware) => void,
  options?: KoaWebSocketOptions,
): Promise<KoaHarness<Koa>> {
  return serveKoa(Koa, setup, options, cleanups);
}

function track<T extends { terminate(): void }>(client: T): T {
  cleanups.push(() => client.terminate());
  return client;
}

describe('@wskit/koa edges', () => {
  test('an onError hook that throws: its error closes the socket with 1011 and reaches app "error"', async () => {
    const errors: string[] = [];
    const h = await start(
      (app) => {
        app.on('error', (error: Error) => errors.push(error.message));
        app.use(async (ctx) => {
          await ctx.ws!();
          throw new Error('route failed');
        });
      },
      {
        onError: () => {
          throw new Error('hook failed');
        },
      },
    );
    const client = track(await open(`${h.base}/x`));
    expect((await closed(client)).code).toBe(1011);
    expect(errors).toEqual(['hook failed']);
  });

  test('a non-Error thrown after the upgrade reaches app "error" as an Error', async () => {
    const errors: Error[] = [];
    const h = await start((app) => {
      app.on('error', (error: Error) => errors.push(error));
      app.use(async (ctx) => {
        await ctx.ws!();
        throw 'plain string';
      });
    });
    const client = track(await open(`${h.base}/x`));
    expect((await closed(client)).code).toBe(1011);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(Error);
    expect(errors[0]!.message).toBe('plain string');
  });

  test("peer protocol errors go to onDebug, not to the app's error event", async () => {
    const debug: string[] = [];
    const errors: Error[] = [];
    const h = await start(
      (app) => {
        app.on('error', (error: Error) => errors.push(error));
        app.use(async (ctx) => {
          const socket = await ctx.ws!({ maxPayload: 8 });
          socket.on('message', () => undefined);
        });
      },
      { onDebug: (message) => debug.push(message) },
    );
    const client = track(await open(`${h.base}/x`));
    const closing = closed(client);
    client.send('far more than eight bytes');
    expect((await closing).code).toBe(1009);
    await delay(20);
    expect(errors).toEqual([]);
    expect(debug.length).toBeGreaterThan(0);
  });

  test('ctx.ws() after the chain already answered rejects; the answer stands', async () => {
    let failure: unknown;
    const h = await start((app) => {
      app.use(async (ctx, next) => {
        ctx.status = 418;
        ctx.body = 'teapot';
        ctx.res.end('teapot');
        await next();
      });
      app.use(async (ctx) => {
        failure = await ctx.ws!().catch((error: unknown) => error);
      });
    });
    const answer = await refusal(`${h.base}/late`).catch((error: unknown) => error);
    expect(answer).toBeDefined();
    expect(failure).toBeInstanceOf(Error);
  });

  test('a handshake the core refuses (bad key) after the chain approved it gets its 400, not a socket', async () => {
    const h = await start((app) => {
      app.use(async (ctx) => {
        // A bad key: the core refuses the handshake, so ctx.ws() rejects and the route rethrows.
        await ctx.ws!();
      });
    });
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request(h.base.replace('ws:', 'http:') + '/bad', {
        headers: {
          Connection: 'Upgrade',
          Upgrade: 'websocket',
          'Sec-WebSocket-Version': '13',
          'Sec-WebSocket-Key': 'short',
        },
      });
      req.on('response', resolve);
      req.on('upgrade', () => reject(new Error('upgraded')));
      req.on('error', reject);
      req.end();
    });
    expect(res.statusCode).toBe(400);
    res.resume();
  });

  test('close({ code, reason }) overrides the close frame; closing twice and attaching afterwards are no-ops', async () => {
    const h = await start((app) => {
      app.use(async (ctx) => {
        await ctx.ws!();
      });
    });
    const client = track(await open(`${h.base}/a`));
    const closing = closed(client);
    await h.ws.close({ code: 4001, reason: 'bye now', timeout: 500 });
    expect(await closing).toEqual({ code: 4001, reason: 'bye now' });
    // Closing again, and attaching after close, are harmless.
    await h.ws.close({ timeout: 10 });
    h.ws.attach(h.server);
    expect(h.server.listenerCount('upgrade')).toBe(0);
  });

  test('a route calling ctx.ws() while the plugin is closing gets 503 through Koa', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const h = await start((app) => {
      app.use(async (ctx) => {
        entered();
        await gate;
        await ctx.ws!();
      });
    });
    const answer = refusal(`${h.base}/slow`);
    await inside;
    const closing = h.ws.close({ timeout: 100 });
    release();
    expect((await answer).status).toBe(503);
    await closing;
  });

  test('deprecated `compression` maps to perMessageDeflate; a protocol chooser function selects the protocol', async () => {
    const h = await start((app) => {
      app.use(async (ctx) => {
        const socket = await ctx.ws!({
          compression: true,
          protocols: (offered) => (offered.has('b') ? 'b' : false),
        });
        socket.send(`${socket.protocol}|${socket.extensions}`);
      });
    });
    const client = track(await open(`${h.base}/p`, ['a', 'b']));
    expect(client.protocol).toBe('b');
    expect(client.extensions).toContain('permessage-deflate');
    expect(await nextMessage(client)).toBe(`b|${client.extensions}`);
  });

  test('a shouldHandle that throws does not claim the request; other plugins still can', async () => {
    const app = new Koa();
    app.silent = true;
    const throwing = websocket({
      shouldHandle: () => {
        throw new Error('predicate failed');
      },
    });
    const second = websocket({ shouldHandle: (req) => req.url === '/mine' });
    app.use(second);
    app.use(async (ctx) => {
      if (ctx.ws) (await ctx.ws()).send('second');
    });
    const server = http.createServer(app.callback());
    throwing.attach(server);
    second.attach(server);
    server.listen(0, '127.0.0.1');
    const port = await listening(server);
    cleanups.push(async () => {
      await throwing.close({ timeout: 100 });
      await second.close({ timeout: 100 });
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    const client = track(await open(`ws://127.0.0.1:${port}/mine`));
    expect(await nextMessage(client)).toBe('second');
  });

  test('an attached server without request listeners answers owned upgrades itself', async () => {
    const ws = websocket();
    const server = http.createServer();
    ws.attach(server);
    server.listen(0, '127.0.0.1');
    const port = await listening(server);
    cleanups.push(async () => {
      await ws.close({ timeout: 100 });
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    const answer = await refusal(`ws://127.0.0.1:${port}/x`);
    expect(answer.status).toBeGreaterThanOrEqual(400);
  });

  test('autoAttach: false leaves an unattached server alone; clients per route set and broadcast', async () => {
    const room = new ClientSet();
    const app = new Koa();
    app.silent = true;
    const ws = websocket({ autoAttach: false });
    app.use(ws);
    app.use(async (ctx) => {
      if (ctx.ws) await ctx.ws({ clients: room });
    });
    const server = http.createServer(app.callback());
    server.listen(0, '127.0.0.1');
    const port = await listening(server);
    cleanups.push(async () => {
      await ws.close({ timeout: 100 });
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    // The unattached path: Node hands the upgrade to Koa as a plain request, the plugin handshakes it.
    const client = track(await open(`ws://127.0.0.1:${port}/x`));
    expect(server.listenerCount('upgrade')).toBe(0);
    expect(room.size).toBe(1);
    expect(ws.broadcast('all')).toBe(1);
    expect(await nextMessage(client)).toBe('all');
  });

  test('attach(app) wraps listen(); close() undoes the hook for later servers', async () => {
    const app = new Koa();
    app.silent = true;
    const ws = websocket();
    app.use(ws);
    app.use(async (ctx) => {
      if (ctx.ws) (await ctx.ws()).send('hi');
    });
    ws.attach(app).attach(app);
    const server = app.listen(0, '127.0.0.1');
    const port = await listening(server);
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    expect(server.listenerCount('upgrade')).toBe(1);
    const client = track(await open(`ws://127.0.0.1:${port}/x`));
    expect(await nextMessage(client)).toBe('hi');
    await ws.close({ timeout: 200 });
    const later = app.listen(0, '127.0.0.1');
    await listening(later);
    expect(later.listenerCount('upgrade')).toBe(0);
    await new Promise((resolve) => later.close(resolve));
  });
});
