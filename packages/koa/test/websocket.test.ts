import http from 'node:http';
import Koa3 from 'koa';
import Koa2 from 'koa2';
import Router from '@koa/router';
import session from 'koa-session';
import WebSocket, { WebSocketServer as WsServer } from 'ws';
import { ClientSet, websocket, type KoaWebSocketMiddleware, type KoaWebSocketOptions } from '@wskit/koa';
import {
  closed,
  delay,
  listening,
  messages,
  nextMessage,
  open,
  refusal,
  serveKoa,
  type KoaHarness,
} from './helpers.js';

type KoaClass = typeof Koa3;

type Harness = KoaHarness<Koa3>;

const versions: [string, KoaClass][] = [
  ['koa 3', Koa3],
  ['koa 2', Koa2],
];

describe.each(versions)('%s', (_name, Koa) => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** `app` with the plugin first, `setup` adding the rest, served by createServer(app.callback()) + attach. */
  function start(
    setup: (app: Koa3, ws: KoaWebSocketMiddleware) => void,
    options?: KoaWebSocketOptions,
  ): Promise<Harness> {
    return serveKoa(Koa as unknown as new () => Koa3, setup, options, cleanups);
  }

  function track(client: WebSocket): WebSocket {
    cleanups.push(() => client.terminate());
    return client;
  }

  test('a session from a prior HTTP login reaches the WebSocket route; without it, 401', async () => {
    const h = await start((app) => {
      app.keys = ['test-secret'];
      app.use(session({ signed: true }, app));
      app.use(async (ctx, next) => {
        if (ctx.path === '/login') {
          ctx.session!.user = 'ann';
          ctx.body = 'logged in';
          return;
        }
        if (!ctx.session?.user) {
          ctx.status = 401;
          return;
        }
        await next();
      });
      app.use(async (ctx) => {
        if (ctx.path !== '/chat' || !ctx.ws) return;
        const socket = await ctx.ws();
        socket.send(`hello ${String(ctx.session!.user)}`);
      });
    });
    expect(await refusal(`${h.base}/chat`)).toEqual({ status: 401, body: 'Unauthorized' });
    const login = await fetch(`${h.http}/login`);
    expect(await login.text()).toBe('logged in');
    const cookie = login.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    expect(cookie).toContain('koa.sess=');
    const client = track(await open(`${h.base}/chat`, undefined, { headers: { Cookie: cookie } }));
    expect(await nextMessage(client)).toBe('hello ann');
  });

  test('ctx.status = 401 and ctx.throw(403) upstream become real HTTP responses', async () => {
    let reached = 0;
    const h = await start((app) => {
      app.use(async (ctx, next) => {
        if (ctx.query.token === undefined) {
          ctx.status = 401;
          ctx.set('WWW-Authenticate', 'Bearer');
          ctx.body = 'token required';
          return;
        }
        if (ctx.query.token !== 'good') ctx.throw(403, 'bad token');
        await next();
      });
      app.use(async (ctx) => {
        reached++;
        await ctx.ws!();
      });
    });
    expect(await refusal(`${h.base}/x`)).toEqual({ status: 401, body: 'token required' });
    expect(await refusal(`${h.base}/x?token=bad`)).toEqual({ status: 403, body: 'bad token' });
    expect(reached).toBe(0);
    track(await open(`${h.base}/x?token=good`));
    expect(reached).toBe(1);
  });

  test('@koa/router: params and prefixes; unmatched WebSocket paths get 404', async () => {
    const h = await start((app) => {
      const router = new Router({ prefix: '/rooms' });
      router.get('/:room/users/:user', async (ctx) => {
        if (!ctx.ws) return;
        const socket = await ctx.ws();
        socket.send(`${ctx.params.room}:${ctx.params.user}`);
      });
      app.use(router.routes());
    });
    const client = track(await open(`${h.base}/rooms/lobby/users/ann`));
    expect(await nextMessage(client)).toBe('lobby:ann');
    expect((await refusal(`${h.base}/lobby/users/ann`)).status).toBe(404);
  });

  test('404 (not a hanging socket) when no middleware calls ctx.ws()', async () => {
    const h = await start((app) => {
      app.use(async (ctx, next) => {
        await next();
        if (ctx.path === '/plain') ctx.body = 'plain';
      });
    });
    expect(await refusal(`${h.base}/nothing`)).toEqual({ status: 404, body: 'Not Found' });
    expect((await fetch(`${h.http}/plain`)).status).toBe(200);
  });

  test('ctx.ws is present only on upgrade requests', async () => {
    const seen: boolean[] = [];
    const h = await start((app) => {
      app.use(async (ctx) => {
        seen.push(typeof ctx.ws === 'function');
        if (ctx.ws) await ctx.ws();
        else ctx.body = 'http';
      });
    });
    expect(await (await fetch(`${h.http}/a`)).text()).toBe('http');
    track(await open(`${h.base}/a`));
    expect(seen).toEqual([false, true]);
  });

  test('app.listen(): ws.attach(app) attaches before the first request, even beside another upgrade listener', async () => {
    const app = new Koa();
    const ws = websocket();
    app.use(ws);
    app.use(async (ctx) => {
      const socket = await ctx.ws!();
      socket.send('koa');
    });
    ws.attach(app);
    const server = app.listen(0, '127.0.0.1');
    const other = new WsServer({ noServer: true });
    server.on('upgrade', (req, socket, head) => {
      if (req.url === '/other') other.handleUpgrade(req, socket, head, (c) => c.send('other'));
    });
    cleanups.push(async () => {
      await ws.close({ timeout: 200 });
      other.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    const port = await listening(server);
    expect(server.listenerCount('upgrade')).toBe(2);
    expect(Object.prototype.hasOwnProperty.call(Koa.prototype, 'listen')).toBe(true);
    expect(Object.prototype.hasOwnProperty.call(app, 'listen')).toBe(true);
    expect(await nextMessage(track(await open(`ws://127.0.0.1:${port}/chat`)))).toBe('koa');
    expect(await nextMessage(track(await open(`ws://127.0.0.1:${port}/other`)))).toBe('other');
  });

  test('app.listen() with no explicit attach: the first upgrade works and attaches the plugin to the server', async () => {
    const app = new Koa();
    const ws = websocket();
    app.use(ws);
    let n = 0;
    app.use(async (ctx) => {
      const socket = await ctx.ws!();
      const id = ++n;
      socket.on('message', (data) => socket.send(`${id}:${String(data)}`));
    });
    const server = app.listen(0, '127.0.0.1');
    cleanups.push(async () => {
      await ws.close({ timeout: 200 });
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    const port = await listening(server);
    expect(server.listenerCount('upgrade')).toBe(0);
    const first = track(await open(`ws://127.0.0.1:${port}/a`));
    first.send('x');
    expect(await nextMessage(first)).toBe('1:x');
    expect(server.listenerCount('upgrade')).toBe(1);
    const second = track(await open(`ws://127.0.0.1:${port}/b`));
    second.send('y');
    expect(await nextMessage(second)).toBe('2:y');
    first.send('z');
    expect(await nextMessage(first)).toBe('1:z');
  });

  test('standalone attach(server) with createServer(app.callback())', async () => {
    const { attach } = await import('@wskit/koa');
    const app = new Koa();
    app.use(websocket());
    app.use(async (ctx) => (await ctx.ws!()).send('attached'));
    const server = http.createServer(app.callback());
    const detach = attach(server);
    server.listen(0, '127.0.0.1');
    cleanups.push(async () => {
      detach();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    const port = await listening(server);
    expect(await nextMessage(track(await open(`ws://127.0.0.1:${port}/`)))).toBe('attached');
  });

  test.each(['before', 'after'])(
    'coexists with a ws server whose upgrade listener is registered %s the plugin',
    async (order) => {
      const app = new Koa();
      const ws = websocket();
      app.use(ws);
      app.use(async (ctx) => (await ctx.ws!()).send(`koa ${ctx.path}`));
      const server = http.createServer(app.callback());
      const other = new WsServer({ noServer: true });
      const otherListener = (req: http.IncomingMessage, socket: import('node:stream').Duplex, head: Buffer): void => {
        if (req.url === '/other') other.handleUpgrade(req, socket, head, (c) => c.send('from ws'));
      };
      if (order === 'before') server.on('upgrade', otherListener);
      ws.attach(server);
      if (order === 'after') server.on('upgrade', otherListener);
      server.listen(0, '127.0.0.1');
      cleanups.push(async () => {
        await ws.close({ timeout: 200 });
        other.close();
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      });
      const port = await listening(server);
      const a = track(await open(`ws://127.0.0.1:${port}/other`));
      const b = track(await open(`ws://127.0.0.1:${port}/mine`));
      expect(await nextMessage(a)).toBe('from ws');
      expect(await nextMessage(b)).toBe('koa /mine');
      expect(other.clients.size).toBe(1);
      expect(ws.clients.size).toBe(1);
    },
  );

  test('shouldHandle leaves declined upgrades to a listener that claims them later', async () => {
    const app = new Koa();
    const ws = websocket({ shouldHandle: (req) => !req.url?.startsWith('/legacy') });
    app.use(ws);
    app.use(async (ctx) => (await ctx.ws!()).send('koa'));
    const server = http.createServer(app.callback());
    ws.attach(server);
    const other = new WsServer({ noServer: true });
    server.on('upgrade', (req, socket, head) => {
      // Claims asynchronously (e.g. after an auth lookup): only shouldHandle can keep the plugin off it.
      if (req.url?.startsWith('/legacy'))
        setTimeout(() => other.handleUpgrade(req, socket, head, (c) => c.send('legacy')), 30);
    });
    server.listen(0, '127.0.0.1');
    cleanups.push(async () => {
      await ws.close({ timeout: 200 });
      other.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    const port = await listening(server);
    expect(await nextMessage(track(await open(`ws://127.0.0.1:${port}/legacy/x`)))).toBe('legacy');
    expect(await nextMessage(track(await open(`ws://127.0.0.1:${port}/new`)))).toBe('koa');
  });

  test('messages sent before the route attached its listeners are held, in order', async () => {
    const h = await start((app) => {
      app.use(async (ctx) => {
        const socket = await ctx.ws!();
        await delay(150); // e.g. a database lookup before listening
        socket.on('message', (data) => socket.send(`echo ${String(data)}`));
        // A route that stays pending for the socket's life must still receive messages.
        await new Promise((resolve) => socket.once('close', resolve));
      });
    });
    const client = track(await open(`${h.base}/early`));
    const got = messages(client, 3);
    client.send('one');
    client.send('two');
    client.send('three');
    expect(await got).toEqual(['echo one', 'echo two', 'echo three']);
  });

  test('per-route options: maxPayload closes with 1009 on one route only; protocols; compression', async () => {
    const h = await start((app) => {
      app.use(async (ctx) => {
        const socket =
          ctx.path === '/small'
            ? await ctx.ws!({ maxPayload: 16 })
            : await ctx.ws!({ protocols: ['chat.v2', 'chat.v1'], compression: true });
        socket.on('message', (data) => socket.send(`${socket.protocol}|${socket.extensions}|${String(data).length}`));
      });
      app.on('error', () => {}); // the 1009 protocol error is reported too
    });
    const small = track(await open(`${h.base}/small`));
    const closing = closed(small);
    small.send('x'.repeat(100));
    expect((await closing).code).toBe(1009);

    const big = track(await open(`${h.base}/big`, ['chat.v1', 'chat.v2']));
    expect(big.protocol).toBe('chat.v2');
    expect(big.extensions).toContain('permessage-deflate');
    big.send('x'.repeat(100));
    expect(await nextMessage(big)).toBe('chat.v2|permessage-deflate|100');
  });

  test('broadcast to all clients and to a per-route client set', async () => {
    const room = new ClientSet();
    const h = await start((app) => {
      app.use(async (ctx) => {
        const socket = await ctx.ws!(ctx.path === '/room' ? { clients: room } : {});
        socket.send('ready');
      });
    });
    const inRoom = [await open(`${h.base}/room`), await open(`${h.base}/room`)].map(track);
    const outside = track(await open(`${h.base}/lobby`));
    await Promise.all([...inRoom, outside].map((ws) => nextMessage(ws)));
    expect(h.ws.clients.size).toBe(3);
    expect(room.size).toBe(2);

    const roomGot = Promise.all(inRoom.map((ws) => nextMessage(ws)));
    const outsideGot = nextMessage(outside);
    expect(room.broadcast('room only')).toBe(2);
    expect(await roomGot).toEqual(['room only', 'room only']);
    expect(h.ws.broadcast('everyone', { except: [...room] })).toBe(1);
    expect(await outsideGot).toBe('everyone');

    const closing = closed(inRoom[0]!);
    inRoom[0]!.close();
    await closing;
    await delay(20);
    expect(room.size).toBe(1);
  });

  test('an error after the upgrade closes with 1011 and reaches app "error"', async () => {
    const errors: { error: Error; path: string }[] = [];
    const h = await start((app) => {
      app.on('error', (error: Error, ctx: Koa3.Context) => errors.push({ error, path: ctx.path }));
      app.use(async (ctx) => {
        const socket = await ctx.ws!();
        await new Promise((resolve) => socket.once('message', resolve));
        throw new Error('route failed');
      });
    });
    const client = track(await open(`${h.base}/boom`));
    const closing = closed(client);
    client.send('go');
    expect((await closing).code).toBe(1011);
    expect(errors.map((e) => [e.error.message, e.path])).toEqual([['route failed', '/boom']]);
  });

  test('a custom onError hook replaces the default', async () => {
    const seen: string[] = [];
    const h = await start(
      (app) => {
        app.use(async (ctx) => {
          await ctx.ws!();
          throw new Error('custom');
        });
      },
      {
        onError: (error, socket, ctx) => {
          seen.push(`${(error as Error).message} ${ctx.path}`);
          socket.close(4000, 'handled');
        },
      },
    );
    const client = track(await open(`${h.base}/c`));
    expect(await closed(client)).toEqual({ code: 4000, reason: 'handled' });
    expect(seen).toEqual(['custom /c']);
  });

  test('close(): every socket gets 1001, and later upgrades are refused with 503', async () => {
    const h = await start((app) => {
      app.use(async (ctx) => {
        await ctx.ws!();
      });
    });
    const clients = [await open(`${h.base}/1`), await open(`${h.base}/2`), await open(`${h.base}/3`)].map(track);
    const codes = Promise.all(clients.map(closed));
    await h.ws.close({ timeout: 1000 });
    expect((await codes).map((c) => c.code)).toEqual([1001, 1001, 1001]);
    expect(h.ws.clients.size).toBe(0);
    expect(h.server.listenerCount('upgrade')).toBe(0);
    expect((await refusal(`${h.base}/4`)).status).toBe(503);
  });

  test('close() terminates a peer that never answers the close handshake, after the bounded wait', async () => {
    const h = await start((app) => {
      app.use(async (ctx) => {
        await ctx.ws!();
      });
    });
    const client = track(await open(`${h.base}/stuck`));
    // Stop reading: the client never sees (so never answers) the server's close frame.
    (client as unknown as { _socket: import('node:net').Socket })._socket.pause();
    const started = Date.now();
    await h.ws.close({ timeout: 150 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(h.ws.clients.size).toBe(0);
  });

  test("an invalid handshake upstream-approved by the chain gets the core's 400", async () => {
    const h = await start((app) => {
      app.use(async (ctx) => {
        await ctx.ws!();
      });
    });
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request(`${h.http}/bad`, {
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
});
