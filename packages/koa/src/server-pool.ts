/**
 * One noServer WebSocketServer per distinct route option set. A handshake the core refuses (bad key,
 * wrong version) is answered on the socket here and reported to whoever is waiting for it.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  WebSocketServer,
  guardSocket,
  runHandler,
  writeHttpError,
  type HandshakeError,
  type TopicHub,
  type WebSocket,
} from '@wskit/core';
import { shapeKey, toServerOptions, type ServerShape } from './route-options.js';

export class ServerPool {
  private readonly servers = new Map<string, WebSocketServer>();
  private readonly waiting = new WeakMap<IncomingMessage, (error: Error) => void>();

  /** @param topics the plugin's one topic hub, shared by every server of the pool */
  constructor(private readonly topics: TopicHub) {}

  /** Performs the handshake; resolves with the socket (paused before anything can be read from it). */
  handshake(shape: ServerShape, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<WebSocket> {
    const wss = this.serverFor(shape);
    return new Promise<WebSocket>((resolve, reject) => {
      const fail = (error: Error): void => {
        socket.removeListener('close', onClose);
        this.waiting.delete(req);
        reject(error);
      };
      const onClose = (): void => fail(new Error('The connection closed before the WebSocket handshake'));
      socket.once('close', onClose);
      this.waiting.set(req, fail);
      try {
        wss.handleUpgrade(req, socket, head, (ws) => {
          socket.removeListener('close', onClose);
          this.waiting.delete(req);
          ws.pause();
          resolve(ws);
        });
      } catch (error) {
        socket.destroy();
        fail(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  /**
   * The pipeline's hand-over policy for a socket handshaken outside it (the first request of an
   * unattached server): errors to `onError` (peer errors excepted), messages held until `ready` settles.
   */
  adopt(ws: WebSocket, ready: (ws: WebSocket) => unknown, onError: (error: unknown, ws: WebSocket) => void): void {
    guardSocket(ws, (error, socket, kind) => {
      if (kind !== 'peer') onError(error, socket);
    });
    void runHandler(
      ws,
      () => ready(ws),
      (error) => onError(error, ws),
    );
  }

  close(): void {
    for (const wss of this.servers.values()) wss.close();
    this.servers.clear();
  }

  serverFor(shape: ServerShape): WebSocketServer {
    const key = shapeKey(shape);
    let wss = this.servers.get(key);
    if (!wss) {
      wss = new WebSocketServer({ ...toServerOptions(shape), topics: this.topics });
      wss.on('wsClientError', (error: HandshakeError, socket: Duplex, req: IncomingMessage) => {
        writeHttpError(socket, error.status, error.message, error.headers);
        this.waiting.get(req)?.(error);
      });
      this.servers.set(key, wss);
    }
    return wss;
  }
}
