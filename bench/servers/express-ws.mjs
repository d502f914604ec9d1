// express-ws echo route on '/' (the peer @wskit/express replaces), on ws with its native add-ons if installed.
import express from 'express';
import expressWs from 'express-ws';
import { MAX_PAYLOAD, announce, echo } from './plugin-common.mjs';

const app = express();
const server = app.listen(0, '127.0.0.1', () => announce(server, 'express-ws', () => instance.getWss().clients));
const instance = expressWs(app, server, { wsOptions: { maxPayload: MAX_PAYLOAD } });
app.ws('/', (ws) => echo(ws));
