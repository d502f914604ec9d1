/**
 * Type tests, checked by the root `tsc --noEmit` (and by types.test.ts in jest): right usages compile with
 * the expected types, and each `@ts-expect-error` line must really be an error (an unused one fails too).
 */
import http from 'node:http';
import express, { type Request, type RequestHandler } from 'express';
import type { WebSocket, WebSocketServer } from '@wskit/core';
import { isWebSocketRequest, wskitExpress, WsRoute, type WskitExpress } from '@wskit/express';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const assertTrue = <T extends true>(_proof?: T): void => {};
const auth: RequestHandler = (_req, _res, next) => next();

const plugin = wskitExpress(express(), {
  maxPayload: 1024,
  heartbeat: { interval: 30_000, timeout: 10_000 },
  protocols: ['v2', 'v1'],
  unmatched: 'ignore',
  shouldHandle: (req) => req.url !== '/__hmr',
  onError: (error, ws, req) => {
    assertTrue<Equal<typeof error, unknown>>();
    assertTrue<Equal<typeof ws, WebSocket>>();
    assertTrue<Equal<typeof req, Request>>();
  },
});
assertTrue<Equal<typeof plugin, WskitExpress<express.Express>>>();
assertTrue<Equal<typeof plugin.wss, WebSocketServer>>();
assertTrue<Equal<ReturnType<typeof plugin.close>, Promise<void>>>();

const { app } = plugin;
const route = app.ws('/rooms/:room', auth, [auth, auth], async (ws, req, self) => {
  assertTrue<Equal<typeof ws, WebSocket>>();
  // Params are typed from the path, as app.get types them (not string | string[]).
  assertTrue<Equal<typeof req.params.room, string>>();
  assertTrue<Equal<typeof req, Request<{ room: string }>>>();
  assertTrue<Equal<typeof self, WsRoute>>();
  ws.send(`${req.params.room.toUpperCase()} ${String(isWebSocketRequest(req))}`);
  self.broadcast('hi', { except: ws, binary: false });
});
assertTrue<Equal<typeof route, WsRoute>>();
const sent: number = route.broadcast(Buffer.from('x'), { filter: (client) => client.readyState === 1 });
app.ws('/with-options', { maxPayload: 16, perMessageDeflate: true }, (ws) => ws.close(1000));
app.ws(/^\/re$/, (ws) => ws.ping());
plugin.Router().ws('/in-router', (ws) => ws.terminate());
plugin.applyTo(express.Router()).ws('/adopted', (ws) => ws.send('x'));
const server: http.Server = plugin.attach(http.createServer(app));
void [sent, server];

// @ts-expect-error a route needs a handler
app.ws('/no-handler');
// @ts-expect-error the socket is a core WebSocket
app.ws('/typo', (ws) => ws.sendd('x'));
// @ts-expect-error the path is a string, RegExp or an array of them
app.ws(42, (ws) => ws.send('x'));
// @ts-expect-error middleware are functions
app.ws('/bad-middleware', 'auth', (ws) => ws.send('x'));
// @ts-expect-error route options are typed
app.ws('/bad-option', { maxPayload: 'big' }, (ws) => ws.send('x'));
// @ts-expect-error a route cannot bind its own port
app.ws('/own-port', { port: 8080 }, (ws) => ws.send('x'));
// @ts-expect-error unmatched is '404' or 'ignore'
wskitExpress(express(), { unmatched: 'drop' });
// @ts-expect-error shouldHandle returns a boolean
wskitExpress(express(), { shouldHandle: (req: http.IncomingMessage) => req.url });
// @ts-expect-error the plugin always runs noServer
wskitExpress(express(), { noServer: false });
// @ts-expect-error the app must have route methods
wskitExpress({});
// @ts-expect-error attach takes an HTTP(S) server
plugin.attach({});
// @ts-expect-error broadcast does not take a Blob (it frames synchronously)
route.broadcast(new Blob(['x']));
