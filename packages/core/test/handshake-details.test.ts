/**
 * Handshake details at the edges of the specs: a refusal with a status Node knows no reason phrase for, and, over HTTP/2, the
 * 'headers' event's lines becoming response fields: repeated Set-Cookie fields stay separate (RFC 6265
 * §3), lines without a field name are dropped, hop-by-hop fields are never sent (RFC 9113 §8.2.2).
 */
import { once } from 'node:events';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import { connect, type AddressInfo } from 'node:net';
import { WebSocket, WebSocketRouter, WebSocketServer } from '@wskit/core';
import { selfSignedCertificate } from '../../../test/helpers/tls.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function rawRequest(port: number, head: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('latin1');
      if (data.startsWith('HTTP/1.1 101')) socket.destroy();
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve(data));
    socket.write(head);
  });
}

test('a refusal with a status Node has no reason phrase for says "Unknown" and has an empty body', async () => {
  const server = http.createServer();
  const router = new WebSocketRouter(server);
  router.mount('/', null, (request) => request.reject(499));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((r) => server.close(r)));
  const answer = await rawRequest(
    (server.address() as AddressInfo).port,
    'GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  );
  expect(answer).toMatch(/^HTTP\/1\.1 499 Unknown\r\n/);
  expect(answer).toMatch(/Content-Length: 0\r\n/);
});

test("over HTTP/2 the 'headers' lines become fields: Set-Cookie repeated, nameless lines and hop-by-hop fields dropped", async () => {
  const server = http2.createSecureServer({ ...selfSignedCertificate(), settings: { enableConnectProtocol: true } });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => sessions.add(session));
  const wss = new WebSocketServer({ server });
  wss.on('headers', (headers: string[]) => {
    headers.push('Set-Cookie: a=1', 'Set-Cookie: b=2', ': no name', 'not a header line', 'Keep-Alive: timeout=5');
    headers.push('X-Room: lobby');
  });
  wss.on('connection', (ws) => ws.close());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((r) => server.close(r)));
  cleanups.push(() => sessions.forEach((session) => session.destroy()));
  cleanups.push(() => wss.close());
  const ws = new WebSocket(`wss://127.0.0.1:${(server.address() as AddressInfo).port}/`, {
    http2: true,
    rejectUnauthorized: false,
  });
  const [response] = (await once(ws, 'upgrade')) as [{ headers: http2.IncomingHttpHeaders }];
  expect(response.headers['set-cookie']).toEqual(['a=1', 'b=2']);
  expect(response.headers['x-room']).toBe('lobby');
  expect(response.headers['keep-alive']).toBeUndefined();
  expect(Object.keys(response.headers).filter((name) => name === '' || name.includes(' '))).toEqual([]);
  await once(ws, 'close');
});
