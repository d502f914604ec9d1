/**
 * createUpgradeResponse on an HTTP/1.1 upgrade socket: release() hands the socket back (idempotent) unless a
 * response was started; a finished refusal reaches the client and closes the connection.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createUpgradeResponse } from '@wskit/core';
import { within } from './helpers.js';

const UPGRADE =
  'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

let server: Server;
afterEach(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function exchange(onUpgrade: (req: IncomingMessage, socket: Duplex) => void): Promise<string> {
  server = createServer();
  server.on('upgrade', onUpgrade);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client: Socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
  client.write(UPGRADE);
  let text = '';
  client.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  await within(once(client, 'close'), 5000, 'connection close');
  return text;
}

describe('createUpgradeResponse (HTTP/1.1)', () => {
  test('release() is idempotent and leaves the socket to the caller', async () => {
    const results: boolean[] = [];
    const text = await exchange((req, socket) => {
      const res = createUpgradeResponse(req, socket);
      results.push(res.release(), res.release());
      socket.end('HTTP/1.1 418 Teapot\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    });
    expect(results).toEqual([true, true]);
    expect(text).toMatch(/^HTTP\/1\.1 418 Teapot\r\n/);
  });

  test('once a response is started release() is refused; the finished response closes the socket', async () => {
    const results: boolean[] = [];
    const text = await exchange((req, socket) => {
      const res = createUpgradeResponse(req, socket);
      res.writeHead(403, { 'Content-Type': 'text/plain', 'Content-Length': 2 });
      results.push(res.release());
      res.end('no');
      results.push(res.release());
    });
    expect(results).toEqual([false, false]);
    expect(text).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(text.endsWith('\r\n\r\nno')).toBe(true);
  });
});
