#!/usr/bin/env node
// WebSockets over HTTP/2 (RFC 8441): one HTTP/2 server serves a page at / and a WebSocket echo at /echo.
// Browsers that speak RFC 8441 (Chromium, Firefox) open the WebSocket as a stream of the page's own
// connection instead of a second TCP+TLS connection.
// Usage: node examples/h2-echo/index.mjs --port N   (prints READY <port>; https://127.0.0.1:<port>/)
import * as http2 from 'node:http2';
import { WebSocketServer } from '@wskit/core';
import { selfSignedCertificate } from './self-signed.mjs';

const args = process.argv.slice(2);
const i = args.indexOf('--port');
const port = Number(i >= 0 ? args[i + 1] : 8443);

const page = `<!doctype html><meta charset="utf-8"><title>wskit h2 echo</title>
<p>Open the console: <code>ws.send('hi')</code>. Messages echo back below.</p><pre id="log"></pre>
<script>
  const log = (line) => (document.getElementById('log').textContent += line + '\\n');
  const ws = new WebSocket('wss://' + location.host + '/echo');
  ws.onopen = () => { log('open (' + (ws.extensions || 'no extensions') + ')'); ws.send('hello over HTTP/2'); };
  ws.onmessage = (e) => log('echo: ' + e.data);
  ws.onclose = (e) => log('closed ' + e.code);
  window.ws = ws;
</script>`;

// Extended CONNECT is opt-in: the server advertises SETTINGS_ENABLE_CONNECT_PROTOCOL only when asked.
const server = http2.createSecureServer(
  { ...selfSignedCertificate(), settings: { enableConnectProtocol: true } },
  (req, res) => {
    if (req.url !== '/') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page);
  },
);
const wss = new WebSocketServer({ server, path: '/echo', perMessageDeflate: true });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {}); // a peer's protocol error already closed the stream with its close code
});

server.listen(port, '127.0.0.1', () => console.log(`READY ${server.address().port}`));
const sessions = new Set();
server.on('session', (session) => {
  sessions.add(session);
  session.once('close', () => sessions.delete(session));
});
const stop = () => {
  for (const ws of wss.clients) ws.close(1001, 'server shutting down');
  wss.close();
  server.close(() => process.exit(0));
  for (const session of sessions) session.close();
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
