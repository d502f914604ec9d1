// `ws` echo server. Pure JavaScript or with native add-ons depending on WS_NO_BUFFER_UTIL / WS_NO_UTF_8_VALIDATE,
// which ws reads when it is first imported (run.mjs sets them per variant).
import { createRequire } from 'node:module';
import { WebSocketServer } from 'ws';
import { serveControl } from './control.mjs';
import { serverOptions } from './options.mjs';

const require = createRequire(import.meta.url);
function loadable(name) {
  try {
    require(name);
    return true;
  } catch {
    return false;
  }
}

const wss = new WebSocketServer(serverOptions());
wss.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
wss.on('listening', () => {
  serveControl({
    port: wss.address().port,
    info: {
      impl: 'ws',
      version: require('ws/package.json').version,
      bufferutil: !process.env.WS_NO_BUFFER_UTIL && loadable('bufferutil'),
      // ws 8 prefers buffer.isUtf8 when Node has it (Node >= 18.14), so utf-8-validate is then unused.
      utf8Validate:
        !process.env.WS_NO_UTF_8_VALIDATE &&
        loadable('utf-8-validate') &&
        typeof require('node:buffer').isUtf8 !== 'function',
      perMessageDeflate: Boolean(process.env.BENCH_DEFLATE),
    },
    clientCount: () => wss.clients.size,
    broadcast(data) {
      for (const client of wss.clients) client.send(data, { binary: true });
      return 'loop of send';
    },
  });
});
