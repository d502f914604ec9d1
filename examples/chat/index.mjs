#!/usr/bin/env node
// The demo: an echo + broadcast chat server on 127.0.0.1 with a small browser page.
// Usage (after `npm run build`): node examples/chat/index.mjs [--port 8080]
//   /        the chat page
//   /chat    WebSocket: every message is broadcast to everyone connected
//   /echo    WebSocket: every message comes back to its sender, with its type
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { WebSocketServer } from '@wskit/core';

const args = process.argv.slice(2);
const i = args.indexOf('--port');
const port = Number(i >= 0 ? args[i + 1] : (process.env.PORT ?? 8080));
const page = readFileSync(new URL('./index.html', import.meta.url));

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && (req.url === '/' || req.url === '/index.html')) {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': page.length });
    res.end(page);
    return;
  }
  res.writeHead(404, { 'Content-Type': 'text/plain' });
  res.end('Not found');
});

const chat = new WebSocketServer({ noServer: true, perMessageDeflate: true, maxPayload: 64 * 1024 });
const echo = new WebSocketServer({ noServer: true, perMessageDeflate: true });
let nextId = 1;

chat.on('connection', (ws) => {
  const name = `guest-${nextId++}`;
  ws.on('error', () => {});
  ws.send(JSON.stringify({ type: 'welcome', name, online: chat.clients.size }));
  chat.broadcast(JSON.stringify({ type: 'joined', name, online: chat.clients.size }), { except: ws });
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const text = String(data).slice(0, 2000);
    chat.broadcast(JSON.stringify({ type: 'message', name, text, at: Date.now() }));
  });
  ws.on('close', () => {
    chat.broadcast(JSON.stringify({ type: 'left', name, online: chat.clients.size }));
  });
});

echo.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});

server.on('upgrade', (req, socket, head) => {
  const path = (req.url ?? '').split('?')[0];
  const target = path === '/chat' ? chat : path === '/echo' ? echo : null;
  if (!target) {
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  target.handleUpgrade(req, socket, head, (ws) => target.emit('connection', ws, req));
});

server.listen(port, '127.0.0.1', () => {
  const actual = server.address().port;
  console.log(`READY ${actual}`);
  console.log(`wskit chat demo: open http://127.0.0.1:${actual}/ in a browser (Ctrl+C to stop)`);
});

const stop = () => {
  for (const ws of [...chat.clients, ...echo.clients]) ws.close(1001, 'Server shutting down');
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
