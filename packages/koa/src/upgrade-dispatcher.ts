/**
 * One upgrade pipeline (the core's) per HTTP server, shared by every plugin instance attached to it. Its
 * framework step hands each owned upgrade request to the server's own `request` listeners (for a Koa app,
 * `app.callback()`) with the real `ServerResponse` the pipeline bound to the socket, so the whole
 * middleware chain runs first and anything it answers is a genuine HTTP response.
 *
 * Ownership: a WebSocket upgrade request is owned when some attached plugin's `shouldHandle(req)`
 * accepts it and no other `upgrade` listener took the socket (the pipeline decides that). A
 * non-WebSocket upgrade nobody else takes is answered by the pipeline (426/405), never left hanging.
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { UpgradePipeline, isWebSocketUpgrade, type PendingUpgrade } from '@wskit/core';

export type UpgradeServer = HttpServer | HttpsServer;
export type ShouldHandle = (req: IncomingMessage) => boolean;

/** What one attached plugin instance brings to a server's pipeline. */
export interface Owner {
  shouldHandle: ShouldHandle;
  upgradeTimeout: number;
  /** Debug-level reports (peer protocol errors, resets before the handshake). */
  onDebug?: ((message: string, error: unknown) => void) | undefined;
}

interface Dispatcher {
  owners: Set<Owner>;
  pipeline: UpgradePipeline;
}

const KEY = Symbol.for('wskit.koa.dispatcher');
type Tagged = UpgradeServer & { [KEY]?: Dispatcher };

export function isAttached(server: UpgradeServer): boolean {
  return (server as Tagged)[KEY] !== undefined;
}

/** Installs (once per server) the pipeline and registers `owner`; returns the undo. */
export function attachServer(server: UpgradeServer, owner: Owner): () => void {
  const tagged = server as Tagged;
  let dispatcher = tagged[KEY];
  if (!dispatcher) {
    const owners = new Set<Owner>();
    const pipeline = new UpgradePipeline(
      {
        dispatch: (upgrade) => dispatch(server, upgrade),
        onDebug: (message, error) => {
          for (const o of owners) o.onDebug?.(message, error);
        },
      },
      {
        // The first owner's deadline (all default to the same 10 s).
        upgradeTimeout: owner.upgradeTimeout,
        // Non-WebSocket upgrades are always the pipeline's to answer (unless another listener takes them).
        shouldHandle: (req) => !isWebSocketUpgrade(req) || wanted(owners, req),
      },
    );
    pipeline.attach(server);
    dispatcher = { owners, pipeline };
    tagged[KEY] = dispatcher;
  }
  const current = dispatcher;
  // A wrapper so the same owner can be registered by two plugin instances independently.
  const own: Owner = { ...owner };
  current.owners.add(own);
  return () => {
    current.owners.delete(own);
    if (current.owners.size === 0 && tagged[KEY] === current) {
      current.pipeline.detach(server);
      delete tagged[KEY];
    }
  };
}

function wanted(owners: Set<Owner>, req: IncomingMessage): boolean {
  for (const owner of owners) {
    try {
      if (owner.shouldHandle(req)) return true;
    } catch {
      // A predicate that throws does not claim the request.
    }
  }
  return false;
}

function dispatch(server: UpgradeServer, upgrade: PendingUpgrade): void {
  const handlers = server.listeners('request') as ((req: IncomingMessage, res: unknown) => void)[];
  if (handlers.length === 0) {
    upgrade.unmatched();
    return;
  }
  for (const handler of handlers) handler.call(server, upgrade.req, upgrade.res);
}
