/**
 * `injectWS`: a real client handshake over an in-memory stream pair. The server end is handed to a
 * private, never-listening HTTP server whose parser emits `upgrade` into the plugin's dispatcher, so the
 * request takes exactly the path a network upgrade takes (router, hooks, handshake). The client end is
 * the core WebSocket client with `createConnection` returning the other end of the pair.
 */
import { createServer, type IncomingMessage, type IncomingHttpHeaders, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket } from '@wskit/core';
import { createDuplexPair } from './duplex-pair.js';
import type { InjectWSContext } from './options.js';

/** The upgrade was answered with an HTTP response instead of 101 (a hook refused, 404, 400, …). */
export class InjectWSError extends Error {
  constructor(
    readonly statusCode: number,
    readonly headers: IncomingHttpHeaders,
    readonly body: string,
  ) {
    // name stays 'Error', as the plain Error @fastify/websocket rejects with (tests compare it).
    super(`Unexpected server response: ${statusCode}`);
  }
}

type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

export function createInjector(onUpgrade: UpgradeListener): {
  inject(path: string, context: InjectWSContext): Promise<WebSocket>;
  close(): void;
} {
  let parser: Server | null = null;
  return {
    inject(path, context) {
      if (!path.startsWith('/')) path = `/${path}`;
      if (!parser) {
        parser = createServer();
        parser.on('upgrade', onUpgrade);
      }
      const [serverEnd, clientEnd] = createDuplexPair();
      parser.emit('connection', serverEnd);
      const { protocols, headers, onInit, onOpen: onOpenHook, ...options } = context;
      const ws = new WebSocket(`ws://localhost${path}`, protocols, {
        ...options,
        headers,
        // The client's http.request writes its handshake into the pair instead of opening a TCP connection.
        createConnection: () => clientEnd as Socket,
      });
      onInit?.(ws);
      return new Promise<WebSocket>((resolve, reject) => {
        const onOpen = (): void => {
          ws.removeListener('error', onError);
          try {
            onOpenHook?.(ws);
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
            return;
          }
          resolve(ws);
        };
        const onError = (error: Error): void => {
          ws.removeListener('open', onOpen);
          reject(error);
        };
        ws.once('open', onOpen);
        ws.once('error', onError);
        ws.once('unexpected-response', (_req: unknown, res: IncomingMessage) => {
          ws.removeListener('open', onOpen);
          ws.removeListener('error', onError);
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          const settle = (): void => {
            clientEnd.destroy();
            reject(new InjectWSError(res.statusCode ?? 0, res.headers, Buffer.concat(chunks).toString()));
          };
          res.once('end', settle);
          res.once('error', settle);
          res.once('close', settle);
        });
      });
    },
    close() {
      parser?.removeListener('upgrade', onUpgrade);
      parser = null;
    },
  };
}
