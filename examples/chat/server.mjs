// The demo's one HTTP server: the landing page, the shared static client, an echo socket, and the five
// integrations, each mounted under its own path prefix (/core, /express, /fastify, /koa, /nest). Every
// framework app gets its own never-listening http.Server (or router); this server hands it the requests
// and upgrades under its prefix, so the framework's own routing, sessions and auth run unchanged.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { WebSocketServer, writeHttpError } from '@wskit/core';
import { ChatHub } from './hub.mjs';

export const INTEGRATIONS = [
  { id: 'core', title: 'Core', module: './integrations/core.mjs' },
  { id: 'express', title: 'Express', module: './integrations/express.mjs' },
  { id: 'fastify', title: 'Fastify', module: './integrations/fastify.mjs' },
  { id: 'koa', title: 'Koa', module: './integrations/koa.mjs' },
  { id: 'nest', title: 'Nest', module: './integrations/nest.mjs' },
];

const STATIC = {
  'chat.js': 'text/javascript; charset=utf-8',
  'chat.css': 'text/css; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

const file = (name) => readFile(new URL(`./public/${name}`, import.meta.url));

/** Builds the server (not listening yet) and everything mounted on it. */
export async function createDemo({ secret = process.env.SESSION_SECRET ?? randomBytes(32).toString('hex') } = {}) {
  const landing = await file('index.html');
  const chatPage = await file('chat.html');
  const assets = new Map();
  for (const name of Object.keys(STATIC)) assets.set(name, await file(name));

  const mounted = new Map();
  const hubs = [];
  for (const { id, module } of INTEGRATIONS) {
    const hub = new ChatHub();
    hubs.push(hub);
    const { create } = await import(module);
    mounted.set(id, await create({ prefix: `/${id}`, hub, secret }));
  }

  const echo = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  echo.on('connection', (ws) => {
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });

  const integrationOf = (url) => mounted.get((url ?? '').split(/[/?]/)[1]);

  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status, type, body, headers = {}) => {
      res.writeHead(status, { 'content-type': type, 'content-length': body.length, ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const isRead = req.method === 'GET' || req.method === 'HEAD';
    if (isRead && path === '/') return send(200, 'text/html; charset=utf-8', landing);
    if (isRead && path === '/favicon.ico') return send(200, STATIC['favicon.svg'], assets.get('favicon.svg'));
    if (isRead && path.startsWith('/static/') && assets.has(path.slice(8))) {
      return send(200, STATIC[path.slice(8)], assets.get(path.slice(8)), { 'cache-control': 'no-cache' });
    }
    const integration = integrationOf(path);
    if (integration && isRead && path.split('/').length === 2) {
      res.writeHead(308, { location: `${path}/` }).end();
      return;
    }
    // One page for all five: it reads the integration from its own URL.
    if (integration && isRead && path.split('/')[2] === '') return send(200, 'text/html; charset=utf-8', chatPage);
    if (integration) return integration.handle(req, res);
    send(404, 'text/plain; charset=utf-8', Buffer.from('Not found'));
  });

  server.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/echo') return echo.handleUpgrade(req, socket, head, (ws) => echo.emit('connection', ws, req));
    const integration = integrationOf(path);
    if (integration) return integration.upgrade(req, socket, head);
    writeHttpError(socket, 404);
  });

  let closing;
  const close = () => {
    closing ??= (async () => {
      for (const hub of hubs) hub.close();
      for (const ws of echo.clients) ws.close(1001, 'Server shutting down');
      await Promise.allSettled([...mounted.values()].map((integration) => integration.close()));
      await new Promise((resolve) => server.close(resolve));
    })();
    return closing;
  };
  return { server, close };
}
