/**
 * `attach(server)`: installs the upgrade dispatcher on a server made with
 * `http.createServer(app.callback())`, without needing a plugin instance. Same as
 * `websocket(options).attach(server)` except for the ownership predicate.
 */
import { attachServer, type ShouldHandle, type UpgradeServer } from './upgrade-dispatcher.js';

export interface AttachOptions {
  /** Which upgrade requests go into the app's middleware chain. Default: all not claimed elsewhere. */
  shouldHandle?: ShouldHandle;
}

/** Returns a function that detaches again. */
export function attach(server: UpgradeServer, options: AttachOptions = {}): () => void {
  return attachServer(server, options.shouldHandle ?? (() => true));
}
