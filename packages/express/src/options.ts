/** Option types shared by the plugin, its routes and its upgrade dispatcher. */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Request } from 'express';
import type { ServerOptions, UnmatchedUpgrade, WebSocket } from '@wskit/core';

/**
 * What a WebSocket endpoint can be configured with: the core server's per-connection options
 * (`maxPayload`, `perMessageDeflate`, `handleProtocols`, `verifyClient`, `heartbeat`, …) plus a
 * shorthand for subprotocol selection. Set on the plugin as defaults, or per route to override them.
 */
export interface SocketOptions extends Omit<
  ServerOptions,
  'port' | 'host' | 'backlog' | 'server' | 'noServer' | 'path' | 'clientTracking'
> {
  /**
   * Subprotocols this endpoint speaks, most preferred first; the first one of these the client offered
   * is selected. Ignored when `handleProtocols` is given.
   */
  protocols?: readonly string[];
}

export type ErrorHook = (error: unknown, ws: WebSocket, req: Request) => void;

export interface WskitExpressOptions extends SocketOptions {
  /** An HTTP(S) server already created for the app; its `upgrade` event is hooked immediately. */
  server?: HttpServer | HttpsServer;
  /**
   * Receives every error of a ws route's socket: its handler throwing or rejecting, a listener throwing
   * (the socket is closed with 1011), the socket failing. Peer protocol errors go to `onDebug` instead.
   * Default: console.error.
   */
  onError?: ErrorHook;
  /** Debug-level reports: protocol errors caused by peers (1002/1007/1009), resets before the handshake. */
  onDebug?: (message: string, error: unknown) => void;
  /** How long shutdown waits for close handshakes before terminating sockets (ms). Default 5000. */
  shutdownTimeout?: number;
  /** Close reason sent with 1001 on shutdown. Default 'Server shutting down'. */
  closeReason?: string;
  /**
   * How long the middleware may take to answer or reach a ws route before the upgrade is answered 408
   * (ms). Default 10000 (or `handshakeTimeout`, its old spelling here).
   */
  upgradeTimeout?: number;
  /**
   * Which upgrade requests this plugin runs through the app. Returning false leaves the socket untouched
   * for another `upgrade` listener on the same server (a dev server, a second WebSocket library). Default: all.
   */
  shouldHandle?: (req: IncomingMessage) => boolean;
  /**
   * A WebSocket upgrade that went through the pipeline without any route taking it or any middleware
   * answering: `'reject'` (default; `'404'` is its old spelling) answers 404; `'ignore'` leaves the socket
   * to other `upgrade` listeners.
   */
  unmatched?: UnmatchedUpgrade;
}

export type { UnmatchedUpgrade };
