// @wskit/core alone: the core's WebSocketRouter routes /core/rooms/:room and decides per request
// (accept, or reject with a real HTTP status); a small cookie session lives in this file.
import { randomBytes } from 'node:crypto';
import { WebSocketRouter } from '@wskit/core';
import { BAD_NAME, LOG_IN_FIRST, ROOM, SOCKET_OPTIONS, UPGRADE_REQUIRED, nameFrom, readJson } from '../common.mjs';

const COOKIE = 'wskit.core';
const MAX_SESSIONS = 10_000;

export async function create({ prefix, hub }) {
  const sessions = new Map(); // session id → name
  const sessionOf = (req) => {
    for (const part of (req.headers.cookie ?? '').split(';')) {
      const [key, value] = part.trim().split('=');
      if (key === COOKIE && sessions.has(value)) return { id: value, name: sessions.get(value) };
    }
    return null;
  };

  const router = new WebSocketRouter(undefined, SOCKET_OPTIONS);
  router.mount(`${prefix}/rooms/:room`, null, (request) => {
    const session = sessionOf(request.httpRequest);
    if (!session) return request.reject(401, LOG_IN_FIRST);
    if (!ROOM.test(request.params.room)) return request.reject(400, 'bad room name');
    const ws = request.accept();
    if (ws) hub.join(ws, { name: session.name, room: request.params.room });
  });

  const send = (res, status, body, headers = {}) => {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  };

  const handle = async (req, res) => {
    const path = new URL(req.url, 'http://demo').pathname.slice(prefix.length);
    if (req.method === 'POST' && path === '/login') {
      const name = nameFrom(await readJson(req));
      if (!name) return send(res, 400, { error: BAD_NAME });
      const id = randomBytes(18).toString('base64url');
      if (sessions.size >= MAX_SESSIONS) sessions.delete(sessions.keys().next().value);
      sessions.set(id, name);
      return send(res, 200, { name }, { 'set-cookie': `${COOKIE}=${id}; Path=${prefix}; HttpOnly; SameSite=Lax` });
    }
    if (req.method === 'POST' && path === '/logout') {
      const session = sessionOf(req);
      if (session) sessions.delete(session.id);
      return send(res, 200, { name: null }, { 'set-cookie': `${COOKIE}=; Path=${prefix}; Max-Age=0` });
    }
    if (req.method === 'GET' && path === '/me') return send(res, 200, { name: sessionOf(req)?.name ?? null });
    if (req.method === 'GET' && path.startsWith('/rooms/')) {
      return sessionOf(req) ? send(res, 426, { error: UPGRADE_REQUIRED }) : send(res, 401, { error: LOG_IN_FIRST });
    }
    send(res, 404, { error: 'not found' });
  };

  return {
    handle: (req, res) => void handle(req, res).catch(() => res.destroy()),
    upgrade: (req, socket, head) => router.route(req, socket, head),
    close: () => router.close({ code: 1001, reason: 'Server shutting down', timeout: 2000 }),
  };
}
