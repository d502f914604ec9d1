import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import type { AddressInfo } from 'node:net';
import { WskitAdapter } from '@wskit/nest';
import { connect, nestMajor, refusal } from './client-helpers.js';
import { BlockGuard, ShoutPipe, TestAppModule, connections } from './test-app.js';

let app: INestApplication;
let base: string;

beforeAll(async () => {
  app = await NestFactory.create(TestAppModule, new ExpressAdapter(), { logger: false });
  app.useWebSocketAdapter(new WskitAdapter(app, { shutdownTimeout: 500 }));
  app.useGlobalGuards(new BlockGuard());
  app.useGlobalPipes(new ShoutPipe());
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  base = `ws://127.0.0.1:${port}`;
});

afterAll(async () => {
  await app?.close();
});

test('several gateways share the HTTP port, and HTTP routes still answer', async () => {
  const chat = await connect(`${base}/chat`);
  const room = await connect(`${base}/rooms/lobby?token=good`);
  chat.send({ event: 'echo', data: 'hi' });
  expect(await chat.next()).toEqual({ event: 'echo', data: 'hi' });
  room.send({ event: 'whoami' });
  expect(await room.next()).toMatchObject({ event: 'whoami', data: { room: 'lobby' } });
  const res = await fetch(`${base.replace('ws:', 'http:')}/health`);
  expect(await res.text()).toBe('ok');
  chat.ws.close();
  room.ws.close();
});

test('exact path with a trailing slash and query string matches; unknown paths get a 404 over HTTP', async () => {
  const chat = await connect(`${base}/chat/?x=1`);
  chat.ws.close();
  expect((await refusal(`${base}/nowhere`)).status).toBe(404);
  expect((await refusal(`${base}/chat/extra`)).status).toBe(404);
  expect((await refusal(`${base}/rooms`)).status).toBe(404);
});

test(':param path: params and query reach handleConnection and the parameter decorators', async () => {
  connections.length = 0;
  const room = await connect(`${base}/rooms/caf%C3%A9?token=good&x=1`, { 'x-test': 'jest' });
  expect(connections).toEqual([{ params: { room: 'café' }, query: { token: 'good', x: '1' }, user: 'alice' }]);
  room.send({ event: 'whoami' });
  expect(await room.next()).toEqual({
    event: 'whoami',
    data: { room: 'café', params: { room: 'café' }, token: 'good', user: 'alice', ua: 'jest' },
  });
  room.ws.close();
});

test('wildcard path captures the rest', async () => {
  const files = await connect(`${base}/files/a/b%20c.txt`);
  expect(await files.next()).toEqual({ event: 'path', data: 'a/b c.txt' });
  files.ws.close();
});

test('connect-time guards: false is 403, HttpException is its status, pass opens', async () => {
  connections.length = 0;
  const forbidden = await refusal(`${base}/rooms/lobby`);
  expect(forbidden.status).toBe(403);
  expect(JSON.parse(forbidden.body)).toMatchObject({ statusCode: 403 });
  const unauthorized = await refusal(`${base}/rooms/lobby?token=bad`);
  expect(unauthorized.status).toBe(401);
  expect(JSON.parse(unauthorized.body)).toMatchObject({ statusCode: 401, message: 'bad token' });
  expect(connections).toHaveLength(0);
  const ok = await connect(`${base}/rooms/lobby?token=good`);
  expect(connections).toHaveLength(1);
  ok.ws.close();
});

test('unknown events and unparsable messages are reported to the client', async () => {
  const chat = await connect(`${base}/chat`);
  chat.send({ event: 'nope', data: 1, id: 'q1' });
  expect(await chat.next()).toEqual({
    event: 'exception',
    id: 'q1',
    data: { status: 'error', code: 'UNKNOWN_EVENT', message: 'No handler for event "nope"', event: 'nope' },
  });
  chat.send('{not json');
  expect(await chat.next()).toMatchObject({ event: 'exception', data: { code: 'INVALID_MESSAGE' } });
  chat.send({ data: 1 });
  expect(await chat.next()).toMatchObject({ event: 'exception', data: { code: 'INVALID_MESSAGE' } });
  // the connection survives all of it
  chat.send({ event: 'echo', data: 2 });
  expect(await chat.next()).toEqual({ event: 'echo', data: 2 });
  chat.ws.close();
});

test('WsException, custom exception filter, and a crashing handler are answered, not dropped', async () => {
  const chat = await connect(`${base}/chat`);
  chat.send({ event: 'ws-fail', data: 1 });
  expect(await chat.next()).toMatchObject({ event: 'exception', data: { status: 'error', message: 'nope' } });
  chat.send({ event: 'custom-fail' });
  expect(await chat.next()).toEqual({ event: 'custom-error', data: { reason: 'custom' } });
  chat.send({ event: 'crash' });
  const crash = (await chat.next()) as { event: string; data: { message: string } };
  expect(crash.event).toBe('exception');
  expect(crash.data.message).not.toContain('secret');
  chat.ws.close();
});

test('acks: the return value is sent back, paired with the request id when given', async () => {
  const chat = await connect(`${base}/chat`);
  chat.send({ event: 'sum', data: [1, 2, 3] });
  expect(await chat.next()).toBe(6);
  chat.send({ event: 'async-sum', data: [4, 5], id: 42 });
  expect(await chat.next()).toEqual({ event: 'async-sum', data: 9, id: 42 });
  chat.send({ event: 'echo', data: 'x', id: 'e' });
  expect(await chat.next()).toEqual({ event: 'echo', data: 'x', id: 'e' });
  chat.ws.close();
});

// Nest's own rule, not the adapter's: Nest 12 hands the application config (useGlobalGuards/useGlobalPipes)
// to the WebSocket context creators; Nest 11 does not, so there global enhancers skip message handlers.
test(`global guards and pipes ${nestMajor >= 12 ? 'apply' : 'do not apply (Nest 11)'} to gateway handlers`, async () => {
  const chat = await connect(`${base}/chat`);
  const global = nestMajor >= 12;
  chat.send({ event: 'shout', data: 'shout:hello' });
  expect(await chat.next()).toBe(global ? 'HELLO' : 'shout:hello');
  chat.send({ event: 'shout', data: 'blocked' });
  if (global) expect(await chat.next()).toMatchObject({ event: 'exception', data: { message: 'Forbidden resource' } });
  else expect(await chat.next()).toBe('blocked');
  chat.ws.close();
});

test('broadcast through the injected gateway server skips the sender', async () => {
  const a = await connect(`${base}/chat`);
  const b = await connect(`${base}/chat`);
  a.send({ event: 'broadcast', data: 'news!' });
  expect(await b.next()).toEqual({ event: 'news', data: 'news!' });
  b.send({ event: 'echo', data: 'after' });
  expect(await b.next()).toEqual({ event: 'echo', data: 'after' });
  a.send({ event: 'echo', data: 'mine' });
  expect(await a.next()).toEqual({ event: 'echo', data: 'mine' });
  a.ws.close();
  b.ws.close();
});
