/**
 * Edges of the server handshake: request validation (HTTP version, Host, header lists), writeHttpError on
 * sockets that can no longer be written, and the header lines a 'headers' listener adds to an RFC 8441
 * (HTTP/2) acceptance.
 */
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { HandshakeError, WebSocket, WebSocketServer, writeHttpError } from '@wskit/core';
import { headerHasToken, splitHeaderList, validateUpgradeRequest } from '../src/handshake.js';
import { selfSignedCertificate } from '../../../test/helpers/tls.js';
import { within } from './helpers.js';

const request = (over: Partial<IncomingMessage>): IncomingMessage =>
  ({
    method: 'GET',
    httpVersionMajor: 1,
    httpVersionMinor: 1,
    headers: {
      host: 'example.test',
      upgrade: 'websocket',
      connection: 'Upgrade',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      'sec-websocket-version': '13',
    },
    ...over,
  }) as IncomingMessage;

describe('upgrade request validation (RFC 6455 §4.2.1)', () => {
  test('HTTP/1.0 and a missing Host are refused with 400', () => {
    expect(validateUpgradeRequest(request({ httpVersionMinor: 0 }))).toMatchObject({
      status: 400,
      message: 'HTTP/1.1 or higher is required',
    });
    const { host: _host, ...noHost } = request({}).headers;
    const error = validateUpgradeRequest(request({ headers: noHost }));
    expect(error).toBeInstanceOf(HandshakeError);
    expect(error).toMatchObject({ status: 400, message: 'Missing Host header' });
    expect(validateUpgradeRequest(request({}))).toMatchObject({ key: 'dGhlIHNhbXBsZSBub25jZQ==', version: 13 });
  });

  test('header lists: optional whitespace is trimmed at both ends; repeated fields are searched as one', () => {
    expect(splitHeaderList(' a ,\tb\t, ,c')).toEqual(['a', 'b', '', 'c']);
    expect(headerHasToken(['keep-alive', 'x,  Upgrade \t'], 'upgrade')).toBe(true);
    expect(headerHasToken(['keep-alive'], 'upgrade')).toBe(false);
    expect(headerHasToken(undefined, 'upgrade')).toBe(false);
  });
});

describe('writeHttpError on a socket that cannot be written', () => {
  test('a destroyed or ended socket is destroyed without a write or an error', async () => {
    for (const prepare of [(s: PassThrough) => s.destroy(), (s: PassThrough) => s.end()]) {
      const socket = new PassThrough();
      const errors: Error[] = [];
      socket.on('error', (e: Error) => errors.push(e));
      prepare(socket);
      const written = socket.readableLength;
      expect(() => writeHttpError(socket, 401, 'no')).not.toThrow();
      expect(socket.destroyed).toBe(true);
      expect(socket.readableLength).toBe(written);
      await new Promise((resolve) => setImmediate(resolve));
      expect(errors).toEqual([]);
    }
  });

  test('an HTTP/2 stream whose response already started is reset, not answered twice', async () => {
    const server = http2.createSecureServer(selfSignedCertificate());
    server.on('stream', (stream) => {
      stream.respond({ ':status': 200 });
      writeHttpError(stream, 403);
      expect(stream.destroyed).toBe(true);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const session = http2.connect(`https://127.0.0.1:${(server.address() as AddressInfo).port}`, {
      rejectUnauthorized: false,
    });
    try {
      const req = session.request({ ':path': '/' });
      // Whether the 200 HEADERS frame leaves before the reset depends on the Node version (22 resets first):
      // either way the stream ends and no second answer (403) ever comes.
      const statuses: unknown[] = [];
      req.on('response', (head: http2.IncomingHttpHeaders) => statuses.push(head[':status']));
      req.on('error', () => {});
      req.resume();
      await within(once(req, 'close'), 5000, 'stream close');
      expect(statuses.filter((status) => status !== 200)).toEqual([]);
      expect(statuses.length).toBeLessThanOrEqual(1);
    } finally {
      session.destroy();
      server.close();
    }
  });
});

describe("RFC 8441 acceptance: lines added by a 'headers' listener", () => {
  test('become HTTP/2 fields; repeated ones stay separate; lines without a name are skipped', async () => {
    const server = http2.createSecureServer({ ...selfSignedCertificate(), settings: { enableConnectProtocol: true } });
    const wss = new WebSocketServer({ server });
    wss.on('headers', (lines: string[]) => {
      lines.push('Set-Cookie: a=1', 'set-cookie: b=2', 'Set-Cookie: c=3', 'no colon here', ': nameless', 'X-One:  1 ');
    });
    wss.on('connection', (ws) => ws.close());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const ws = new WebSocket(`wss://127.0.0.1:${(server.address() as AddressInfo).port}/`, {
      http2: true,
      rejectUnauthorized: false,
    });
    try {
      const [res] = (await within(once(ws, 'upgrade'), 10_000, 'upgrade')) as [IncomingMessage];
      expect(res.headers['set-cookie']).toEqual(['a=1', 'b=2', 'c=3']);
      expect(res.headers['x-one']).toBe('1');
      expect(Object.keys(res.headers).filter((name) => name.includes(' ') || name === '')).toEqual([]);
      await within(once(ws, 'close'), 10_000, 'close');
    } finally {
      ws.terminate();
      wss.close();
      server.close();
    }
  });
});
