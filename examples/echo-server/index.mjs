#!/usr/bin/env node
// Echo server for conformance tools (Autobahn's fuzzing client and our own suites).
// Usage: node examples/echo-server/index.mjs --port N [--host 127.0.0.1] [--no-deflate]
// Prints READY once listening; echoes every message back with its type (text as text, binary as binary).
import { WebSocketServer } from '@wskit/core';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const port = Number(option('port', '9001'));
const host = option('host', '127.0.0.1');
const perMessageDeflate = !args.includes('--no-deflate');

const wss = new WebSocketServer({ port, host, perMessageDeflate, maxPayload: 64 * 1024 * 1024 });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {}); // protocol errors already fail the connection with the right close code
});
wss.on('listening', () => {
  const address = wss.address();
  console.log(`READY ${typeof address === 'object' && address ? address.port : port}`);
});
const stop = () => wss.close(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
