// The installed package's deflate worker: a dedicated publish burst from the ESM entry starts a worker thread
// (the thread count of this process grows) and every subscriber still gets every message, inflated by
// permessage-deflate on its own client. Prints a JSON report.
import { readFileSync } from 'node:fs';
import { WebSocket, WebSocketServer } from '@wskit/core';

const threads = () => Number(/^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))[1]);
const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  perMessageDeflate: { threshold: 0, serverNoContextTakeover: true },
  topics: { compression: 'dedicated' },
});
await new Promise((resolve) => wss.once('listening', resolve));
wss.on('connection', (ws) => ws.subscribe('t'));
const url = `ws://127.0.0.1:${wss.address().port}`;
const CLIENTS = 40;
const MESSAGES = 5;
const got = [];
const clients = await Promise.all(
  Array.from({ length: CLIENTS }, (_, i) => {
    const ws = new WebSocket(url, { perMessageDeflate: true });
    got[i] = [];
    ws.on('message', (data) => got[i].push(data.toString()));
    return new Promise((resolve) => ws.once('open', () => resolve(ws)));
  }),
);
while (wss.subscriberCount('t') < CLIENTS) await new Promise((resolve) => setTimeout(resolve, 5));
const before = threads();
const sent = Array.from({ length: MESSAGES }, (_, i) => `${i} ${'{"price":1.5} '.repeat(50)}`);
for (const m of sent) wss.publish('t', m, { compress: true });
const deadline = Date.now() + 10_000;
while (got.some((list) => list.length < MESSAGES) && Date.now() < deadline) {
  await new Promise((resolve) => setTimeout(resolve, 5));
}
const report = {
  threadsAdded: threads() - before,
  allInOrder: got.every((list) => JSON.stringify(list) === JSON.stringify(sent)),
};
for (const ws of clients) ws.terminate();
wss.close();
process.stdout.write(JSON.stringify(report));
