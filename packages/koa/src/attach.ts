/**
 * `attach(server)`: installs the upgrade dispatcher on a server made with
 * `http.createServer(app.callback())`, without needing a plugin instance. Same as
 * `websocket(options).attach(server)` except for the ownership predicate.
 */
import { attachServer, type ShouldHandle, type UpgradeServer } from './upgrade-dispatcher.js';

export interface AttachOptions {
  /** Which upgrade requests go into the app's middleware chain. Default: all not claimed elsewhere. */
  shouldHandle?: ShouldHandle;
  /** How long the chain may take to answer or call `ctx.ws()` before 408 (ms). Default 10000. */
  upgradeTimeout?: number;
}

/** Returns a function that detaches again. */
export function attach(server: UpgradeServer, options: AttachOptions = {}): () => void {
  return attachServer(server, {
    shouldHandle: options.shouldHandle ?? (() => true),
    upgradeTimeout: options.upgradeTimeout ?? 10_000,
  });
}
