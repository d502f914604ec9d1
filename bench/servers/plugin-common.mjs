// What the plugin bench servers share: the same echo handler and the control channel on one listening server.
import { serveControl } from './control.mjs';

export const MAX_PAYLOAD = 64 * 1024 * 1024;

/** Echoes every message back with its own type, as bench/servers/wskit.mjs does on the bare core. */
export function echo(ws) {
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
}

/** Announces `server` (an http.Server already listening) with the plugin's client set. */
export function announce(server, impl, clients) {
  serveControl({
    port: server.address().port,
    info: { impl },
    clientCount: () => clients().size,
    broadcast(data) {
      for (const client of clients()) client.send(data, { binary: true });
      return 'loop of send';
    },
  });
}
