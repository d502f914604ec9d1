/** Option types shared by the plugin, its routes and its upgrade dispatcher. */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Request } from 'express';
import type { ServerOptions, WebSocket } from '@wskit/core';

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
  /** Receives every error thrown or rejected by a ws handler (the socket is closed with 1011). */
  onError?: ErrorHook;
  /** How long shutdown waits for close handshakes before terminating sockets (ms). Default 5000. */
  shutdownTimeout?: number;
  /**
   * Which upgrade requests this plugin runs through the app. Returning false leaves the socket untouched
   * for another `upgrade` listener on the same server (a dev server, a second WebSocket library). Default: all.
   */
  shouldHandle?: (req: IncomingMessage) => boolean;
  /**
   * A WebSocket upgrade that went through the pipeline without any route taking it or any middleware
   * answering: `'404'` (default) answers 404; `'ignore'` leaves the socket to other `upgrade` listeners.
   */
  unmatched?: UnmatchedUpgrade;
}

export type UnmatchedUpgrade = '404' | 'ignore';
