// ws 8 has no topics: the usual Map of Sets, and a publish is a loop of send() over the topic's Set.
import { WebSocketServer } from 'ws';
import { serveTopicControl, topicOf } from './topics-control.mjs';

const deflate = Boolean(process.env.BENCH_DEFLATE);
const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  perMessageDeflate: deflate ? { threshold: 0, zlibDeflateOptions: { level: 6, memLevel: 8 } } : false,
});
const topics = new Map();
let subscriptions = 0;
wss.on('connection', (ws, req) => {
  ws.on('error', () => {});
  const topic = topicOf(req.url);
  let set = topics.get(topic);
  if (!set) topics.set(topic, (set = new Set()));
  set.add(ws);
  subscriptions++;
  ws.on('close', () => set.delete(ws));
});
wss.on('listening', () =>
  serveTopicControl(wss.address().port, {
    publish(topic, data, compress) {
      const set = topics.get(topic);
      if (!set) return 0;
      for (const ws of set) ws.send(data, { binary: true, compress });
      return set.size;
    },
    subscriptions: () => subscriptions,
  }),
);
