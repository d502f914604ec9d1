/**
 * Client handshakes that must fail or carry something specific: a 101 whose Sec-WebSocket-Extensions the
 * client cannot parse (RFC 6455 §4.1: the client fails the connection), redirects to URLs that cannot be
 * followed (reported as 'error', as ws does once a redirect is under way, instead of thrown), the TLS
 * server name sent for host names but never for IP literals (RFC 6066 §3), and URL credentials sent as
 * Basic authorization over HTTP/2 as over HTTP/1.1 (RFC 7617).
 */
import { once } from 'node:events';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { WebSocket, WebSocketServer } from '@wskit/core';
import { selfSignedCertificate } from '../../../test/helpers/tls.js';
import { acceptKeyFor, errorOf } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function listening<T extends http.Server | https.Server | http2.Http2SecureServer>(server: T): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((r) => server.close(() => r(undefined))));
  return (server.address() as AddressInfo).port;
}

/** A server that answers every upgrade with a 101 carrying `extensions` as its Sec-WebSocket-Extensions. */
async function answering(extensions: string): Promise<number> {
  const server = http.createServer();
  server.on('upgrade', (req: http.IncomingMessage, socket: Socket) => {
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${acceptKeyFor(String(req.headers['sec-websocket-key']))}\r\n` +
        `Sec-WebSocket-Extensions: ${extensions}\r\n\r\n`,
    );
    socket.on('error', () => {});
    setTimeout(() => socket.destroy(), 500);
  });
  return listening(server);
}

test('a 101 with an unparsable Sec-WebSocket-Extensions fails the connection', async () => {
  const port = await answering('permessage-deflate; =broken');
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  const closed = new Promise((resolve) => ws.once('close', resolve)); // events.once would reject on 'error'
  const error = await errorOf(ws);
  expect(error.message).toBe('Invalid Sec-WebSocket-Extensions header');
  await closed;
  expect(ws.readyState).toBe(WebSocket.CLOSED);
});

test('redirects to a URL that cannot be followed are reported as errors, not thrown', async () => {
  const locations = ['http://[::1', 'ftp://127.0.0.1/files'];
  const server = http.createServer();
  let hit = 0;
  server.on('upgrade', (_req, socket: Socket) => {
    socket.end(`HTTP/1.1 302 Found\r\nLocation: ${locations[hit++ % 2]}\r\nContent-Length: 0\r\n\r\n`);
  });
  const port = await listening(server);
  const invalid = new WebSocket(`ws://127.0.0.1:${port}/`, { followRedirects: true });
  expect((await errorOf(invalid)).message).toBe('Invalid URL: http://[::1');
  const scheme = new WebSocket(`ws://127.0.0.1:${port}/`, { followRedirects: true });
  const closed = new Promise((resolve) => scheme.once('close', resolve));
  expect((await errorOf(scheme)).message).toMatch(/protocol/i);
  await closed;
});

test('the TLS server name is the host name, and never an IP address', async () => {
  const { key, cert } = selfSignedCertificate();
  const server = https.createServer({ key, cert });
  const wss = new WebSocketServer({ server });
  cleanups.push(() => wss.close());
  const names: Array<string | false | null | undefined> = [];
  wss.on('connection', (ws, req) => {
    names.push((req.socket as TLSSocket).servername);
    ws.close();
  });
  const port = await listening(server);
  for (const host of ['localhost', '127.0.0.1']) {
    const ws = new WebSocket(`wss://${host}:${port}/`, { ca: cert, family: 4 });
    await once(ws, 'close');
  }
  expect(names).toEqual(['localhost', false]);
});

test('URL credentials become Basic authorization over HTTP/2 too', async () => {
  const server = http2.createSecureServer({ ...selfSignedCertificate(), settings: { enableConnectProtocol: true } });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => sessions.add(session));
  const wss = new WebSocketServer({ server });
  cleanups.push(() => wss.close());
  const seen: Array<string | undefined> = [];
  wss.on('connection', (ws, req) => {
    seen.push(req.headers.authorization);
    ws.close();
  });
  const port = await listening(server);
  cleanups.push(() => sessions.forEach((session) => session.destroy()));
  const ws = new WebSocket(`wss://al%20ice:s%3Acret@127.0.0.1:${port}/`, { http2: true, rejectUnauthorized: false });
  await once(ws, 'close');
  expect(seen).toEqual([`Basic ${Buffer.from('al ice:s:cret').toString('base64')}`]);
});

describe('a 101 that is not HTTP/1.1 (RFC 6455 §4.1)', () => {
  test('an HTTP/1.0 101 fails the connection', async () => {
    const server = http.createServer();
    server.on('upgrade', (req: http.IncomingMessage, socket: Socket) => {
      socket.on('error', () => {});
      socket.write(
        'HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Accept: ${acceptKeyFor(String(req.headers['sec-websocket-key']))}\r\n\r\n`,
      );
      setTimeout(() => socket.destroy(), 500);
    });
    const port = await listening(server);
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    let opened = false;
    ws.on('open', () => (opened = true));
    const error = errorOf(ws);
    const closed = new Promise<number>((resolve) => ws.once('close', resolve));
    expect((await error).message).toBe('Invalid HTTP version in the handshake response');
    expect(await closed).toBe(1006);
    expect(opened).toBe(false);
  });
});
