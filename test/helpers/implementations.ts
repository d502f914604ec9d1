/**
 * The implementations a suite runs against. wskit is the implementation under test; `ws` is the
 * control. wskit is typed through ws's declarations on purpose: its public API claims to be
 * ws-compatible, so the suites are written once against that surface.
 */
import type { AddressInfo } from 'node:net';
import { WebSocket as WsWebSocket, WebSocketServer as WsWebSocketServer, type ServerOptions } from 'ws';
import * as core from '@wskit/core';

export interface Implementation {
  name: 'wskit' | 'ws';
  WebSocket: typeof WsWebSocket;
  WebSocketServer: typeof WsWebSocketServer;
}

export const ws: Implementation = { name: 'ws', WebSocket: WsWebSocket, WebSocketServer: WsWebSocketServer };

export const wskit: Implementation = {
  name: 'wskit',
  WebSocket: core.WebSocket as unknown as typeof WsWebSocket,
  WebSocketServer: core.WebSocketServer as unknown as typeof WsWebSocketServer,
};

export const implementations: Implementation[] = [wskit, ws];

export interface RunningServer {
  port: number;
  server: WsWebSocketServer;
  close: () => Promise<void>;
}

/** A server that echoes every message with its type, listening on 127.0.0.1 and an ephemeral port. */
export async function startEchoServer(impl: Implementation, options: ServerOptions = {}): Promise<RunningServer> {
  const server = await new Promise<WsWebSocketServer>((resolve, reject) => {
    const s: WsWebSocketServer = new impl.WebSocketServer({ host: '127.0.0.1', port: 0, ...options }, () => resolve(s));
    s.on('error', reject);
  });
  server.on('connection', (socket) => {
    socket.on('message', (data, isBinary) => socket.send(data as Buffer, { binary: isBinary }));
    socket.on('error', () => {});
  });
  const port = (server.address() as AddressInfo).port;
  const close = (): Promise<void> =>
    new Promise((resolve) => {
      for (const client of server.clients) client.terminate();
      server.close(() => resolve());
    });
  return { port, server, close };
}

/**
 * What the interop peers expect of our server: echo every message with its type; a text message
 * "close:CODE:REASON" makes the server close with that code and reason. Returns the closes it saw.
 */
export function serveInteropPeer(server: WsWebSocketServer): Array<[number, string]> {
  const closes: Array<[number, string]> = [];
  server.on('connection', (socket) => {
    socket.on('error', () => {});
    socket.on('message', (data, isBinary) => {
      const text = isBinary ? '' : String(data);
      if (text.startsWith('close:')) {
        const [, code, reason] = text.split(':');
        socket.close(Number(code), reason);
      } else socket.send(data as Buffer, { binary: isBinary });
    });
    socket.on('close', (code, reason) => closes.push([code, reason.toString()]));
  });
  return closes;
}
