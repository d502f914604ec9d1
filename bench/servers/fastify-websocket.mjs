// @fastify/websocket echo route on '/' (the peer @wskit/fastify replaces), on ws with its native add-ons if installed.
import Fastify from 'fastify';
import websocket from '@fastify/websocket';
import { MAX_PAYLOAD, announce, echo } from './plugin-common.mjs';

const app = Fastify();
await app.register(websocket, { options: { maxPayload: MAX_PAYLOAD } });
app.get('/', { websocket: true }, (socket) => echo(socket));
await app.listen({ host: '127.0.0.1', port: 0 });
announce(app.server, '@fastify/websocket', () => app.websocketServer.clients);
