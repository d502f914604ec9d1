import { connect as tcpConnect, type Socket } from 'node:net';
import Fastify from 'fastify';
import websocket from '@wskit/fastify';
import { closed, connect, listen, refusal } from './helpers.js';

/** A peer that completes the handshake and then never answers anything (so never the close frame). */
function deafPeer(port: number, path: string): Promise<{ socket: Socket; received: () => Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const end = data.indexOf('\r\n\r\n');
      if (end !== -1 && data.subarray(0, 12).toString() === 'HTTP/1.1 101') {
        resolve({ socket, received: () => data.subarray(end + 4) });
      }
    });
    socket.on('error', reject);
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
  });
}

describe('@wskit/fastify: shutdown', () => {
  test('app.close() sends 1001 to every socket and resolves', async () => {
    const app = Fastify();
    await app.register(websocket);
    app.get('/a', { websocket: true }, () => {});
    app.get('/b', { websocket: true, wsOptions: { maxPayload: 10 } }, () => {});
    const url = await listen(app);
    const clients = await Promise.all([connect(`${url.ws}/a`), connect(`${url.ws}/a`), connect(`${url.ws}/b`)]);
    const closes = Promise.all(clients.map((ws) => closed(ws)));
    await app.close();
    expect(await closes).toEqual(clients.map(() => ({ code: 1001, reason: 'Server shutting down' })));
  });

  test('a peer that never answers the close frame is terminated after closeTimeout', async () => {
    const app = Fastify();
    await app.register(websocket, { closeTimeout: 300, closeReason: 'bye' });
    app.get('/deaf', { websocket: true }, () => {});
    await listen(app);
    const port = (app.server.address() as { port: number }).port;
    const peer = await deafPeer(port, '/deaf');
    const ended = new Promise<void>((resolve) => peer.socket.once('close', () => resolve()));
    const started = Date.now();
    await app.close();
    const elapsed = Date.now() - started;
    await ended;
    // The close frame (0x88, length, 1001, reason) arrived before the connection was cut.
    const frame = peer.received();
    expect(frame[0]).toBe(0x88);
    expect(frame.readUInt16BE(2)).toBe(1001);
    expect(frame.subarray(4, 2 + frame[1]!).toString()).toBe('bye');
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(5000);
  });

  test('a custom preClose runs once (done and promise both used), and upgrades during shutdown get 503', async () => {
    const app = Fastify();
    let calls = 0;
    let duringShutdown: Promise<number> | null = null;
    let url = { ws: '', http: '' };
    await app.register(websocket, {
      preClose(done) {
        calls++;
        duringShutdown = refusal(connect(`${url.ws}/room`)).then((r) => r.status);
        for (const client of this.websocketClients()) client.close(4001, 'custom');
        done();
        done();
        return duringShutdown.then(() => undefined);
      },
    });
    app.get('/room', { websocket: true }, () => {});
    url = await listen(app);
    const ws = await connect(`${url.ws}/room`);
    const closing = closed(ws);
    await app.close();
    expect(await closing).toEqual({ code: 4001, reason: 'custom' });
    expect(calls).toBe(1);
    expect(await duringShutdown).toBe(503);
  });
});
