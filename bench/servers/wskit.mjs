// @wskit/core echo server (the package under test), resolved through node_modules/@wskit/core → packages/core/dist.
import { WebSocketServer } from '@wskit/core';
import { serveControl } from './control.mjs';
import { serverOptions } from './options.mjs';

const wss = new WebSocketServer(serverOptions());
wss.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
wss.on('listening', () => {
  const hasBroadcast = typeof wss.broadcast === 'function';
  serveControl({
    port: wss.address().port,
    info: { impl: 'wskit', broadcast: hasBroadcast, perMessageDeflate: Boolean(process.env.BENCH_DEFLATE) },
    clientCount: () => wss.clients.size,
    broadcast(data) {
      if (hasBroadcast) {
        wss.broadcast(data);
        return 'wss.broadcast';
      }
      for (const client of wss.clients) client.send(data, { binary: true });
      return 'loop of send';
    },
  });
});
