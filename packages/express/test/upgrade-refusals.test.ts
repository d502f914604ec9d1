import { once } from 'node:events';
import type http from 'node:http';
import express5 from 'express';
import express4 from 'express4';
import request from 'supertest';
import { isWebSocketRequest, wskitExpress } from '@wskit/express';

const versions: [string, typeof express5][] = [
  ['express 5', express5],
  ['express 4', express4],
];

/**
 * supertest sends a WebSocket upgrade request: Node's server routes it to the `upgrade` listener, and a
 * refusal is an ordinary HTTP response for it. (An accepted upgrade — 101 — never completes a supertest
 * request, so acceptance is tested with a WebSocket client elsewhere.)
 */
function upgrade(server: http.Server, path: string): request.Test {
  return request(server)
    .get(path)
    .set('Connection', 'Upgrade')
    .set('Upgrade', 'websocket')
    .set('Sec-WebSocket-Version', '13')
    .set('Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ==');
}

describe.each(versions)('@wskit/express refusals of upgrade requests, via supertest, on %s', (_name, express) => {
  let server: http.Server;
  const seen: string[] = [];

  beforeAll(async () => {
    const { app } = wskitExpress(express());
    app.use((req, _res, next) => {
      seen.push(`${req.url} upgrade=${String(isWebSocketRequest(req))}`);
      next();
    });
    app.ws(
      '/private',
      (req, res, next) =>
        req.headers.authorization === 'Bearer ok'
          ? next()
          : res.status(401).set('WWW-Authenticate', 'Bearer').send('login first'),
      (ws) => ws.send('secret'),
    );
    app.ws(
      '/admin',
      (_req, res) => void res.status(403).json({ error: 'admins only' }),
      (ws) => ws.send('never'),
    );
    app.ws('/echo', (ws) => ws.on('message', (data) => ws.send(data)));
    server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('401 from auth middleware, with its headers and body, before any handshake', async () => {
    seen.length = 0;
    const res = await upgrade(server, '/private');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer');
    expect(res.text).toBe('login first');
    // It went through the upgrade listener, not the plain request path.
    expect(seen).toEqual(['/private upgrade=true']);
  });

  test('403 with a JSON body', async () => {
    const res = await upgrade(server, '/admin');
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ error: 'admins only' });
  });

  test('404 for an upgrade no route takes', async () => {
    seen.length = 0;
    const res = await upgrade(server, '/nowhere');
    expect(res.status).toBe(404);
    expect(seen).toEqual(['/nowhere upgrade=true']);
  });

  test('426 for a plain GET to a ws route', async () => {
    seen.length = 0;
    const res = await request(server).get('/echo');
    expect(res.status).toBe(426);
    expect(res.headers.upgrade).toBe('websocket');
    expect(seen).toEqual(['/echo upgrade=false']);
  });
});
