// @wskit/fastify echo route on '/' (the plugin under test).
import Fastify from 'fastify';
import websocket from '@wskit/fastify';
import { MAX_PAYLOAD, announce, echo } from './plugin-common.mjs';

const app = Fastify();
await app.register(websocket, { options: { maxPayload: MAX_PAYLOAD } });
app.get('/', { websocket: true }, (socket) => echo(socket));
await app.listen({ host: '127.0.0.1', port: 0 });
announce(app.server, '@wskit/fastify', () => app.websocketClients());
