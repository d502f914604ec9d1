/**
 * The README's demo (examples/chat, started by `npm start`): the page is served, /chat broadcasts to
 * everyone connected, /echo echoes with the message type, unknown WebSocket paths get 404.
 */
import { once } from 'node:events';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { startPeer, type Peer } from '../helpers/child.js';

const script = join(__dirname, '..', '..', 'examples', 'chat', 'index.mjs');
let demo: Peer;

beforeAll(async () => {
  demo = await startPeer(process.execPath, [script, '--port', '0']);
});

afterAll(async () => {
  await demo.stop();
});

interface ChatEvent {
  type: string;
  name?: string;
  text?: string;
  online?: number;
}

function collect(ws: WebSocket): ChatEvent[] {
  const events: ChatEvent[] = [];
  ws.on('message', (data) => events.push(JSON.parse(String(data)) as ChatEvent));
  return events;
}

async function until(pred: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('serves the chat page', async () => {
  const res = await fetch(`http://127.0.0.1:${demo.port}/`);
  expect(res.status).toBe(200);
  expect(await res.text()).toContain('<title>wskit chat</title>');
});

test('/chat broadcasts every message to everyone, with compression negotiated', async () => {
  const a = new WebSocket(`ws://127.0.0.1:${demo.port}/chat`);
  const aEvents = collect(a);
  await once(a, 'open');
  expect(a.extensions).toContain('permessage-deflate');
  await until(() => aEvents.some((e) => e.type === 'welcome'));
  const b = new WebSocket(`ws://127.0.0.1:${demo.port}/chat`);
  const bEvents = collect(b);
  await once(b, 'open');
  await until(() => aEvents.some((e) => e.type === 'joined'));
  b.send('hello everyone');
  await until(() => aEvents.some((e) => e.type === 'message') && bEvents.some((e) => e.type === 'message'));
  const fromB = bEvents.find((e) => e.type === 'welcome')!.name;
  expect(aEvents.find((e) => e.type === 'message')).toMatchObject({ name: fromB, text: 'hello everyone' });
  expect(bEvents.find((e) => e.type === 'message')).toMatchObject({ name: fromB, text: 'hello everyone' });
  b.close();
  await until(() => aEvents.some((e) => e.type === 'left' && e.name === fromB));
  a.close();
  await once(a, 'close');
});

test('/echo returns text as text and binary as binary; unknown paths get 404', async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${demo.port}/echo`);
  await once(ws, 'open');
  const got: Array<[string, boolean]> = [];
  ws.on('message', (data, isBinary) => got.push([String(data), isBinary]));
  ws.send('text');
  ws.send(Buffer.from('bytes'));
  await until(() => got.length === 2);
  expect(got).toEqual([
    ['text', false],
    ['bytes', true],
  ]);
  ws.close();

  const lost = new WebSocket(`ws://127.0.0.1:${demo.port}/nowhere`);
  lost.on('error', () => {});
  const [, res] = (await once(lost, 'unexpected-response')) as [unknown, { statusCode: number }];
  expect(res.statusCode).toBe(404);
  lost.terminate();
});
