// @wskit/core topics: ws.subscribe() on connection, wss.publish() per message (BENCH_TOPIC_COMPRESSION picks
// shared or dedicated deflate).
import { WebSocketServer } from '@wskit/core';
import { serveTopicControl, topicOf } from './topics-control.mjs';

const deflate = Boolean(process.env.BENCH_DEFLATE);
const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  perMessageDeflate: deflate ? { threshold: 0, zlibDeflateOptions: { level: 6, memLevel: 8 } } : false,
  topics: { compression: process.env.BENCH_TOPIC_COMPRESSION ?? 'shared' },
});
let subscriptions = 0;
wss.on('connection', (ws, req) => {
  ws.on('error', () => {});
  if (ws.subscribe(topicOf(req.url)) === true) subscriptions++;
});
wss.on('listening', () =>
  serveTopicControl(wss.address().port, {
    publish: (topic, data, compress) => wss.publish(topic, data, { binary: true, compress }),
    subscriptions: () => subscriptions,
  }),
);
