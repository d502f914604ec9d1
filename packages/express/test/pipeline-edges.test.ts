import { once } from 'node:events';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import express5 from 'express';
import express4 from 'express4';
import request from 'supertest';
import { isWebSocketRequest, wskitExpress } from '@wskit/express';
import type { WebSocket } from '@wskit/core';
import { open, refused } from './client.js';

const versions: [string, typeof express5][] = [
  ['express 5', express5],
  ['express 4', express4],
];

/** Sends raw request bytes and returns everything the server wrote before closing. */
async function rawExchange(port: number, head: string): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(head);
  let received = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (received += chunk));
  // A bounded wait whose timer is cleared: a pending 3 s timer kept the jest worker from exiting after the suite.
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([once(socket, 'close'), new Promise((resolve) => (timer = setTimeout(resolve, 3000)))]);
  clearTimeout(timer);
  socket.destroy();
  return received;
}

describe.each(versions)('@wskit/express pipeline edges on %s', (_name, express) => {
  test('a page and a socket can share a path when the page handler lets upgrades through', async () => {
    const plugin = wskitExpress(express());
    const { app } = plugin;
    app.get('/room', (req, res, next) => (isWebSocketRequest(req) ? next() : res.send('the page')));
    app.ws('/room', (ws) => ws.send('the socket'));
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const page = await request(server).get('/room');
    expect(page.status).toBe(200);
    expect(page.text).toBe('the page');
    const client = await open(`ws://127.0.0.1:${port}/room`);
    expect(await client.message(0)).toBe('the socket');
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test('middleware that never answers is cut off with 408 after handshakeTimeout', async () => {
    const { app } = wskitExpress(express(), { handshakeTimeout: 150 });
    app.ws(
      '/stuck',
      () => {},
      (ws) => ws.send('unreachable'),
    );
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const refusal = await refused(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/stuck`);
    expect(refusal.status).toBe(408);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test("each route's server emits connection with the request; routes are listed", async () => {
    const plugin = wskitExpress(express());
    const shared = plugin.app.ws('/shared', (ws) => ws.send('s'));
    const own = plugin.app.ws('/own', { maxPayload: 100 }, (ws) => ws.send('o'));
    expect(shared.wss).toBe(plugin.wss);
    expect(own.wss).not.toBe(plugin.wss);
    expect(plugin.routes).toEqual([shared, own]);
    const seen: string[] = [];
    own.wss.on('connection', (_ws: WebSocket, req: { url?: string }) => seen.push(req.url ?? ''));
    const server = plugin.app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = await open(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/own?q=1`);
    expect(await client.message(0)).toBe('o');
    expect(seen).toEqual(['/own?q=1']);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test('an upgrade to another protocol gets 426 (Upgrade: websocket) when nobody else listens', async () => {
    const { app } = wskitExpress(express());
    app.ws('/x', (ws) => ws.send('x'));
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const reply = await rawExchange(
      (server.address() as AddressInfo).port,
      'GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n',
    );
    expect(reply.startsWith('HTTP/1.1 426 ')).toBe(true);
    expect(reply).toMatch(/\r\nUpgrade: websocket\r\n/);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test('an upgrade request with a broken handshake that reaches a ws route gets the core 400', async () => {
    const { app } = wskitExpress(express());
    app.ws('/x', (ws) => ws.send('x'));
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const reply = await rawExchange(
      (server.address() as AddressInfo).port,
      'GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    expect(reply.startsWith('HTTP/1.1 400 ')).toBe(true);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});
