// @wskit/express echo route on '/', through a real Express 5 app (the plugin under test).
import http from 'node:http';
import express from 'express';
import { wskitExpress } from '@wskit/express';
import { MAX_PAYLOAD, announce, echo } from './plugin-common.mjs';

const app = express();
const plugin = wskitExpress(app, { maxPayload: MAX_PAYLOAD });
plugin.app.ws('/', (ws) => echo(ws));
const server = plugin.attach(http.createServer(app));
server.listen(0, '127.0.0.1', () => announce(server, '@wskit/express', () => plugin.clients));
