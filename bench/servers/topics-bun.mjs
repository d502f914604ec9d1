// Bun's native pub/sub (uWebSockets): ws.subscribe() on open, server.publish() per message. Run by the bun
// binary of the @oven/bun-linux-x64 devDependency.
/* global Bun */
import { serveTopicControl, topicOf } from './topics-control.mjs';

const deflate = Boolean(process.env.BENCH_DEFLATE);
let subscriptions = 0;
const server = Bun.serve({
  hostname: '127.0.0.1',
  port: 0,
  fetch(req, srv) {
    if (srv.upgrade(req, { data: { topic: topicOf(req.url) } })) return undefined;
    return new Response('upgrade required', { status: 426 });
  },
  websocket: {
    perMessageDeflate: deflate,
    // Above what a 10,000-subscriber burst queues per socket: no publish is dropped for backpressure.
    backpressureLimit: 64 * 1024 * 1024,
    open(ws) {
      ws.subscribe(ws.data.topic);
      subscriptions++;
    },
    message() {},
  },
});
serveTopicControl(server.port, {
  publish(topic, data, compress) {
    server.publish(topic, data, compress);
    // publish() answers with bytes, not sockets: report the topic's subscriber count.
    return server.subscriberCount(topic);
  },
  subscriptions: () => subscriptions,
});
