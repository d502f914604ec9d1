/**
 * A page and a WebSocket endpoint on one path, as express-ws users write them (`app.get('/', page)` and
 * `app.ws('/', handler)`): plain GET routes of an app or router that has `ws()` leave upgrades to the ws
 * route, and a ws route leaves plain GETs to an HTTP route on the same path, in either order of declaration.
 */
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express5 from 'express';
import express4 from 'express4';
import request from 'supertest';
import { wskitExpress } from '@wskit/express';
import { open, refused } from './client.js';

const versions: [string, typeof express5][] = [
  ['express 5', express5],
  ['express 4', express4],
];

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function listen(app: { listen(port: number, host: string): Server }): Promise<{ server: Server; ws: string }> {
  const server = app.listen(0, '127.0.0.1');
  servers.push(server);
  await once(server, 'listening');
  return { server, ws: `ws://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe.each(versions)('@wskit/express: one path for a page and a socket on %s', (_name, express) => {
  test.each(['page first', 'socket first'])(
    '%s: a plain GET gets the page, an upgrade gets the socket',
    async (order) => {
      const { app } = wskitExpress(express());
      const seen: string[] = [];
      app.use((req, _res, next) => {
        seen.push(`middleware ${req.url}`);
        next();
      });
      const page = (): void => void app.get('/', (_req, res) => res.send('the page'));
      const socket = (): void => void app.ws('/', (ws) => ws.send('the socket'));
      if (order === 'page first') {
        page();
        socket();
      } else {
        socket();
        page();
      }
      const { server, ws } = await listen(app);
      const answer = await request(server).get('/');
      expect(answer.status).toBe(200);
      expect(answer.text).toBe('the page');
      const client = await open(`${ws}/`);
      expect(await client.message(0)).toBe('the socket');
      // app.use middleware ran for both.
      expect(seen).toEqual(['middleware /', 'middleware /']);
    },
  );

  test('a ws route alone still answers a plain GET with 426; a page route alone still refuses upgrades', async () => {
    const { app } = wskitExpress(express());
    app.ws('/socket', (ws) => ws.send('x'));
    app.get('/page', (_req, res) => res.send('page'));
    const { server, ws } = await listen(app);
    expect((await request(server).get('/socket')).status).toBe(426);
    // The page's handler passes the upgrade on; no ws route takes it: the unmatched answer (404).
    expect((await refused(`${ws}/page`)).status).toBe(404);
  });

  test('routers from Router() behave the same, params included; app.get(setting) still reads settings', async () => {
    const { app, Router } = wskitExpress(express());
    app.set('title', 'wskit');
    expect(app.get('title')).toBe('wskit');
    const rooms = Router();
    rooms.get('/:room', (req, res) => res.send(`page ${req.params.room}`));
    rooms.ws('/:room', (ws, req) => ws.send(`socket ${req.params.room}`));
    app.use('/rooms', rooms);
    const { server, ws } = await listen(app);
    expect((await request(server).get('/rooms/a')).text).toBe('page a');
    const client = await open(`${ws}/rooms/b`);
    expect(await client.message(0)).toBe('socket b');
  });

  test('handler arrays and error handlers of a page route let upgrades through too', async () => {
    const { app } = wskitExpress(express());
    const calls: string[] = [];
    app.get(
      '/',
      [
        (_req: unknown, _res: unknown, next: (error?: unknown) => void) => {
          calls.push('first');
          next(new Error('page broke'));
        },
      ],
      (error: Error, _req: unknown, res: { status(code: number): { send(body: string): void } }, _next: unknown) => {
        calls.push('error handler');
        res.status(500).send(error.message);
      },
    );
    app.ws('/', (ws) => ws.send('socket'));
    const { server, ws } = await listen(app);
    expect((await request(server).get('/')).text).toBe('page broke');
    expect(calls).toEqual(['first', 'error handler']);
    const client = await open(`${ws}/`);
    expect(await client.message(0)).toBe('socket');
    expect(calls).toEqual(['first', 'error handler']);
  });
});
