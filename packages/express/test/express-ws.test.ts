import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import http from 'node:http';
import express5 from 'express';
import express4 from 'express4';
import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express';
import cookieParser from 'cookie-parser';
import session from 'express-session';
import passport from 'passport';
import request from 'supertest';
import { wskitExpress, isWebSocketRequest, type WsRoute, type WskitExpress } from '@wskit/express';
import { open, refused, connect, TestClient } from './client.js';

type Express = typeof express5;
type App = ReturnType<Express>;

const versions: [string, Express][] = [
  ['express 5', express5],
  ['express 4', express4],
];

declare module 'express-session' {
  interface SessionData {
    user?: string;
  }
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function tokenStrategy(): passport.Strategy {
  return {
    name: 'token',
    authenticate(this: passport.StrategyCreated<passport.Strategy>, req: Request) {
      if (req.headers.authorization === 'Bearer good') this.success({ id: 7, name: 'bob' });
      else this.fail('Bearer realm="ws"', 401);
    },
  };
}

async function listen(app: App): Promise<{ server: http.Server; base: string; ws: string }> {
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { server, base: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}` };
}

describe.each(versions)('@wskit/express on %s', (_name, express) => {
  let plugin: WskitExpress<App>;
  let server: http.Server;
  let base: string;
  let wsBase: string;
  const handlerErrors: unknown[] = [];
  let chat: WsRoute;
  let slowReady = 0;

  beforeAll(async () => {
    plugin = wskitExpress(express(), {
      onError: (error) => handlerErrors.push(error),
      maxPayload: 1024,
    });
    const { app } = plugin;
    const auth = new passport.Passport();
    auth.use(tokenStrategy());

    app.use(cookieParser());
    app.use(session({ secret: 'test secret', resave: false, saveUninitialized: false }));
    app.param('room', (req: Request, _res: Response, next: NextFunction, value: string) => {
      (req as Request & { roomTitle?: string }).roomTitle = value.toUpperCase();
      next();
    });
    app.use('/admin', ((req, res, next) => {
      if (req.query.key === 'letmein') next();
      else res.status(401).json({ error: 'no key' });
    }) as RequestHandler);

    app.post('/login', (req, res) => {
      req.session.user = 'alice';
      res.send('ok');
    });
    app.ws('/rooms/:room', (ws, req) => {
      ws.send(
        JSON.stringify({
          params: req.params,
          query: req.query,
          url: req.url,
          title: (req as Request & { roomTitle?: string }).roomTitle,
          upgrade: isWebSocketRequest(req),
        }),
      );
    });
    app.ws('/me', (ws, req) => {
      ws.send(JSON.stringify({ user: req.session.user ?? null, cookies: Object.keys(req.cookies ?? {}) }));
    });
    app.ws('/secure', auth.initialize(), auth.authenticate('token', { session: false }), (ws, req) => {
      ws.send(JSON.stringify(req.user));
    });
    app.ws('/admin/feed', (ws) => ws.send('admin ok'));
    app.ws(
      '/teapot',
      (_req, _res, next) => next(Object.assign(new Error('short and stout'), { status: 418 })),
      (ws) => ws.send('unreachable'),
    );
    app.ws(
      '/crash',
      (_req, _res, next) => next(new Error('no status')),
      (ws) => ws.send('unreachable'),
    );
    app.ws('/echo', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
    app.ws('/tiny', { maxPayload: 16 }, (ws) => ws.on('message', (data) => ws.send(data.toString())));
    app.ws('/proto', { protocols: ['v2', 'v1'] }, (ws) => ws.send(`protocol=${ws.protocol}`));
    app.ws('/beat', { heartbeat: { interval: 40, timeout: 1000 } }, (ws) => ws.send('beating'));
    app.ws('/slow', async (ws) => {
      await delay(150);
      slowReady++;
      ws.on('message', (data) => ws.send(`got ${data.toString()}`));
    });
    chat = app.ws('/chat', (ws, _req, route) => {
      ws.on('message', (data) => route.broadcast(data.toString()));
    });
    app.ws('/boom', () => {
      throw new Error('kaboom');
    });
    app.ws('/boom-async', async () => {
      await delay(5);
      throw new Error('async kaboom');
    });

    const api = plugin.Router();
    api.use((req, _res, next) => {
      (req as Request & { viaApi?: boolean }).viaApi = true;
      next();
    });
    api.ws('/items/:id', (ws, req) => {
      ws.send(
        JSON.stringify({
          id: req.params.id,
          baseUrl: req.baseUrl,
          originalUrl: req.originalUrl,
          viaApi: (req as Request & { viaApi?: boolean }).viaApi,
        }),
      );
    });
    app.use('/api', api);

    const orgs = plugin.applyTo(express.Router({ mergeParams: true }));
    orgs.ws('/members/:member', (ws, req) => ws.send(JSON.stringify(req.params)));
    app.use('/orgs/:org', orgs);

    app.use(((err: Error & { status?: number }, req, res, next) => {
      if (!err.status) {
        next(err);
        return;
      }
      res.status(err.status).json({ error: err.message, upgrade: isWebSocketRequest(req) });
    }) as ErrorRequestHandler);

    ({ server, base, ws: wsBase } = await listen(app));
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test('params, query, app.param and the real URL reach the handler', async () => {
    const client = await open(`${wsBase}/rooms/lobby?x=1&y=two`);
    const info = await client.json<Record<string, unknown>>(0);
    expect(info).toEqual({
      params: { room: 'lobby' },
      query: { x: '1', y: 'two' },
      url: '/rooms/lobby?x=1&y=two',
      title: 'LOBBY',
      upgrade: true,
    });
    client.ws.close();
  });

  test('express-session: the cookie from an HTTP login gives the socket the session', async () => {
    const login = await fetch(`${base}/login`, { method: 'POST' });
    expect(login.status).toBe(200);
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const client = await open(`${wsBase}/me`, { headers: { Cookie: cookie } });
    expect(await client.json(0)).toEqual({ user: 'alice', cookies: ['connect.sid'] });
    client.ws.close();

    const anonymous = await open(`${wsBase}/me`);
    expect(await anonymous.json(0)).toEqual({ user: null, cookies: [] });
    anonymous.ws.close();
  });

  test('passport strategy sets req.user, or answers 401 before any handshake', async () => {
    const client = await open(`${wsBase}/secure`, { headers: { Authorization: 'Bearer good' } });
    expect(await client.json(0)).toEqual({ id: 7, name: 'bob' });
    client.ws.close();

    const refusal = await refused(`${wsBase}/secure`, { headers: { Authorization: 'Bearer bad' } });
    expect(refusal.status).toBe(401);
    expect(refusal.headers['www-authenticate']).toBe('Bearer realm="ws"');
  });

  test('app.use auth middleware at a prefix answers 401 with its own body', async () => {
    const refusal = await refused(`${wsBase}/admin/feed`);
    expect(refusal.status).toBe(401);
    expect(JSON.parse(refusal.body)).toEqual({ error: 'no key' });
    const client = await open(`${wsBase}/admin/feed?key=letmein`);
    expect(await client.message(0)).toBe('admin ok');
    client.ws.close();
  });

  test('next(err) reaches the app error handler, which sets the status', async () => {
    const refusal = await refused(`${wsBase}/teapot`);
    expect(refusal.status).toBe(418);
    expect(JSON.parse(refusal.body)).toEqual({ error: 'short and stout', upgrade: true });
  });

  test('an error no handler answers becomes a 500', async () => {
    const refusal = await refused(`${wsBase}/crash`);
    expect(refusal.status).toBe(500);
  });

  test('unknown WebSocket paths get 404', async () => {
    const refusal = await refused(`${wsBase}/nowhere`);
    expect(refusal.status).toBe(404);
    const nested = await refused(`${wsBase}/api/nothing/here`);
    expect(nested.status).toBe(404);
  });

  test('a plain HTTP GET to a ws route answers 426', async () => {
    const res = await request(server).get('/echo');
    expect(res.status).toBe(426);
    expect(res.headers.upgrade).toBe('websocket');
    const unknown = await request(server).get('/nowhere');
    expect(unknown.status).toBe(404);
  });

  test('routers made by the plugin and adopted with applyTo work at prefixes', async () => {
    const item = await open(`${wsBase}/api/items/42?z=1`);
    expect(await item.json(0)).toEqual({ id: '42', baseUrl: '/api', originalUrl: '/api/items/42?z=1', viaApi: true });
    item.ws.close();
    const member = await open(`${wsBase}/orgs/acme/members/kim`);
    expect(await member.json(0)).toEqual({ org: 'acme', member: 'kim' });
    member.ws.close();
  });

  test('messages sent before an async handler attached its listener are held and delivered in order', async () => {
    const before = slowReady;
    const client = await open(`${wsBase}/slow`, {
      onOpen: (ws) => {
        ws.send('a');
        ws.send('b');
        ws.send('c');
      },
    });
    expect(await client.message(2)).toBe('got c');
    expect(client.messages).toEqual(['got a', 'got b', 'got c']);
    expect(slowReady).toBe(before + 1);
    client.ws.close();
  });

  test('per-route maxPayload overrides the plugin default (1009)', async () => {
    const big = 'x'.repeat(100);
    const echo = await open(`${wsBase}/echo`);
    echo.ws.send(big);
    expect(await echo.message(0)).toBe(big);
    echo.ws.close();

    const tiny = await open(`${wsBase}/tiny`);
    tiny.ws.send('small');
    expect(await tiny.message(0)).toBe('small');
    tiny.ws.send(big);
    expect((await tiny.closed).code).toBe(1009);

    const overDefault = await open(`${wsBase}/echo`);
    overDefault.ws.send('y'.repeat(2048));
    expect((await overDefault.closed).code).toBe(1009);
  });

  test('per-route subprotocol preference', async () => {
    const client = await open(`${wsBase}/proto`, { protocols: ['v1', 'v2'] });
    expect(client.ws.protocol).toBe('v2');
    expect(await client.message(0)).toBe('protocol=v2');
    client.ws.close();
  });

  test('per-route heartbeat pings the client', async () => {
    const client = await open(`${wsBase}/beat`);
    const [payload] = (await once(client.ws, 'ping')) as [Buffer];
    expect(Buffer.isBuffer(payload)).toBe(true);
    client.ws.close();
  });

  test('broadcast reaches every client of the route and only those', async () => {
    const members = await Promise.all([1, 2, 3].map(() => open(`${wsBase}/chat`)));
    const outsider = await open(`${wsBase}/echo`);
    expect(chat.clients.size).toBe(3);
    members[0]!.ws.send('hello room');
    for (const member of members) expect(await member.message(0)).toBe('hello room');
    // The outsider's first message is its own echo: no broadcast was delivered to it before.
    outsider.ws.send('mine');
    expect(await outsider.message(0)).toBe('mine');
    expect(outsider.messages).toEqual(['mine']);
    await Promise.all(members.map((member) => (member.ws.close(), member.closed)));
    await delay(20);
    expect(chat.clients.size).toBe(0);
    outsider.ws.close();
  });

  test('a throwing or rejecting handler closes with 1011 and reaches the error hook once', async () => {
    handlerErrors.length = 0;
    const sync = await open(`${wsBase}/boom`);
    expect((await sync.closed).code).toBe(1011);
    const rejecting = await open(`${wsBase}/boom-async`);
    expect((await rejecting.closed).code).toBe(1011);
    expect(handlerErrors.map((error) => (error as Error).message)).toEqual(['kaboom', 'async kaboom']);
  });
});

describe.each(versions)('@wskit/express shutdown on %s', (_name, express) => {
  test('server.close() closes every socket with 1001 and the server finishes closing', async () => {
    const plugin = wskitExpress(express());
    plugin.app.ws('/a', (ws) => ws.send('a'));
    plugin.app.ws('/b', { maxPayload: 10 }, (ws) => ws.send('b'));
    const { server, ws } = await listen(plugin.app);
    const clients = await Promise.all([open(`${ws}/a`), open(`${ws}/a`), open(`${ws}/b`)]);
    expect(plugin.clients.size).toBe(3);
    const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
    const closes = await Promise.all(clients.map((client) => client.closed));
    expect(closes.map((c) => c.code)).toEqual([1001, 1001, 1001]);
    await serverClosed;
    await plugin.close(); // the same shutdown server.close() started
    expect(plugin.clients.size).toBe(0);
  });

  test('close() on a server handed over with options.server; new upgrades are refused afterwards', async () => {
    const app = express();
    const server = http.createServer(app);
    const plugin = wskitExpress(app, { server, shutdownTimeout: 500 });
    plugin.app.ws('/a', (ws) => ws.send('a'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/a`;
    const client = await open(url);
    expect(await client.message(0)).toBe('a');
    await plugin.close();
    expect((await client.closed).code).toBe(1001);
    // The plugin let go of the server: a late upgrade is no longer answered by a ws route.
    const late = await connect(url).catch((error: Error) => error);
    expect(late instanceof TestClient).toBe(false);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test('attach() hooks a server created with http.createServer(app) once', async () => {
    const plugin = wskitExpress(express());
    plugin.app.ws('/a', (ws) => ws.send('a'));
    const server = plugin.attach(plugin.attach(http.createServer(plugin.app)));
    expect(server.listenerCount('upgrade')).toBe(1);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = await open(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/a`);
    expect(await client.message(0)).toBe('a');
    await new Promise<void>((resolve) => server.close(() => resolve()));
    expect((await client.closed).code).toBe(1001);
  });
});
