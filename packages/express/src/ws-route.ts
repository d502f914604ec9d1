/** One registered WebSocket endpoint: its server (and so its options) and its own set of clients. */
import { ClientSet, type BroadcastOptions, type Data, type WebSocket, type WebSocketServer } from '@wskit/core';

export type PathParams = string | RegExp | ReadonlyArray<string | RegExp>;

export class WsRoute {
  /** Open sockets accepted by this route; members leave when they close. */
  readonly clients = new ClientSet<WebSocket>();

  constructor(
    readonly path: PathParams,
    /** The noServer WebSocketServer doing this route's handshakes (shared when the route has no own options). */
    readonly wss: WebSocketServer,
  ) {}

  /** Sends one message to every open client of this route (framed once); returns how many got it. */
  broadcast(data: Exclude<Data, Blob>, options?: BroadcastOptions<WebSocket>): number {
    return this.clients.broadcast(data, options);
  }
}
