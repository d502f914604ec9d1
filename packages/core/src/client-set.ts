/**
 * A set of open sockets with a broadcast that frames a message once and writes the same bytes to every
 * member (one framing for a fan-out, not one per client). Used by WebSocketServer and by the framework
 * plugins for their per-route client sets.
 */
import { OPEN, Opcode } from './constants.js';
import { COPY_LIMIT, buildFrame } from './framer.js';
import { isFresh, toBuffer, type Data, type WebSocket } from './websocket.js';

export interface BroadcastOptions<T extends WebSocket = WebSocket> {
  binary?: boolean;
  /** Skip this socket (typically the sender) or these sockets. */
  except?: T | Iterable<T>;
  /** Send only to sockets for which this returns true. */
  filter?: (client: T) => boolean;
  /**
   * Compress per client where permessage-deflate was negotiated (costs one deflate per client).
   * Default false: every client gets the same uncompressed frame, which RFC 7692 allows.
   */
  compress?: boolean;
}

/** Sends `data` to every open socket of `clients`; returns how many it was sent to. */
export function broadcast<T extends WebSocket>(
  clients: Iterable<T>,
  data: Exclude<Data, Blob>,
  options: BroadcastOptions<T> = {},
): number {
  const payload = toBuffer(data);
  const binary = options.binary ?? typeof data !== 'string';
  const except = options.except;
  const skip =
    except === undefined
      ? null
      : typeof (except as Iterable<T>)[Symbol.iterator] === 'function'
        ? new Set(except as Iterable<T>)
        : new Set([except as T]);
  const filter = options.filter;
  let serverFrame: Buffer | null = null;
  let shareable: Buffer | null = null;
  let count = 0;
  for (const client of clients) {
    if (client.readyState !== OPEN) continue;
    if (skip?.has(client)) continue;
    if (filter && !filter(client)) continue;
    count++;
    if (!client._isServer || (options.compress && client._perMessageDeflate)) {
      if (client._isServer) {
        // One copy of the caller's bytes for every compressing recipient, not one each.
        shareable ??= isFresh(data) || payload.length > COPY_LIMIT ? payload : Buffer.from(payload);
        client._sendWhole(shareable, binary, true, true);
      } else client._sendWhole(payload, binary, options.compress ?? false);
      continue;
    }
    serverFrame ??= buildFrame(binary ? Opcode.Binary : Opcode.Text, true, false, payload, false);
    client._sendFrame(serverFrame);
  }
  return count;
}

export class ClientSet<T extends WebSocket = WebSocket> extends Set<T> {
  /** Adds a socket and removes it again when it closes. */
  track(client: T): this {
    this.add(client);
    client.once('close', () => this.delete(client));
    return this;
  }

  broadcast(data: Exclude<Data, Blob>, options?: BroadcastOptions<T>): number {
    return broadcast(this, data, options);
  }
}
