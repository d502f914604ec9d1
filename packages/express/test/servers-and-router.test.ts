/**
 * Two fixes of the shared pipeline migration: closing one of several attached servers shuts down only
 * the sockets that server accepted, and the Router factory of the app's own Express copy is found from
 * the loaded modules, not by resolving `express` from the working directory.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import express from 'express';
import { wskitExpress } from '@wskit/express';
import { open } from './client.js';

async function listen(server: http.Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('closing one attached server closes only its own sockets; the other server keeps serving', async () => {
  const plugin = wskitExpress(express());
  plugin.app.ws('/echo', (ws) => ws.on('message', (data) => ws.send(String(data))));
  const a = plugin.attach(http.createServer(plugin.app));
  const b = plugin.attach(http.createServer(plugin.app));
  const [urlA, urlB] = [await listen(a), await listen(b)];
  const onA = await open(`${urlA}/echo`);
  const onB = await open(`${urlB}/echo`);
  const closedA = new Promise<void>((resolve) => a.close(() => resolve()));
  expect((await onA.closed).code).toBe(1001);
  await closedA;
  onB.ws.send('still here');
  expect(await onB.message(0)).toBe('still here');
  const another = await open(`${urlB}/echo`);
  another.ws.send('new');
  expect(await another.message(0)).toBe('new');
  expect(plugin.clients.size).toBe(2);
  await plugin.close();
  expect((await onB.closed).code).toBe(1001);
  await new Promise<void>((resolve) => b.close(() => resolve()));
});

test("Router() finds the app's Express copy when the working directory has none", async () => {
  const cwd = process.cwd();
  process.chdir(tmpdir());
  try {
    const plugin = wskitExpress(express());
    const router = plugin.Router();
    router.ws('/in-router', (ws) => ws.send('routed'));
    plugin.app.use('/r', router);
    const server = plugin.attach(http.createServer(plugin.app));
    const url = await listen(server);
    const client = await open(`${url}/r/in-router`);
    expect(await client.message(0)).toBe('routed');
    await plugin.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  } finally {
    process.chdir(cwd);
  }
});
