// Loads every package with require() and with import() in one process and reports whether the two formats
// share one runtime: the same export objects, one copy of each module file, and a socket made by one format's
// server being an instance of the other format's class. Prints a JSON report.
const { register } = require('node:module');
const { pathToFileURL } = require('node:url');

// The hooks run in a worker, which gets a copy of this environment: argv[2] names the log file.
process.env.WSKIT_LOAD_LOG = process.argv[2];
register(pathToFileURL(__dirname + '/hooks.mjs'));

(async () => {
  const report = { identical: {}, copies: {}, shape: {}, hub: [], echo: null };
  for (const name of ['core', 'express', 'fastify', 'koa', 'nest', 'redis']) {
    const required = require(`@wskit/${name}`);
    const imported = await import(`@wskit/${name}`);
    const names = Object.keys(imported).filter((key) => key !== 'default');
    report.identical[name] = {
      names: names.length,
      different: names.filter((key) => imported[key] !== required[key]),
      defaultSame: name === 'core' ? imported.default === required : imported.default === required.default,
    };
  }
  const files = Object.keys(require.cache).filter((file) => file.includes('/node_modules/@wskit/'));
  for (const base of ['zlib-limiter.js', 'fanout.js', 'websocket.js', 'connection-guards.js', 'topics.js']) {
    report.copies[base] = files.filter((file) => file.endsWith(`/${base}`)).length;
  }
  const WebSocket = require('@wskit/core');
  const esm = await import('@wskit/core');
  report.shape = {
    isClass: typeof WebSocket === 'function' && WebSocket.name === 'WebSocket',
    statics: ['WebSocket', 'WebSocketServer', 'Server', 'createWebSocketStream'].filter(
      (k) => typeof WebSocket[k] !== 'function',
    ),
    serverAlias: WebSocket.Server === WebSocket.WebSocketServer,
    destructured: require('@wskit/core').WebSocketServer === esm.WebSocketServer,
  };
  // The backplane finds a hub by `instanceof TopicHub`: a hub made by either format's core must pass in
  // either format's @wskit/redis.
  const redisCjs = require('@wskit/redis');
  const redisEsm = await import('@wskit/redis');
  const hubs = [new WebSocket.TopicHub(), new esm.TopicHub()];
  report.hub = hubs.flatMap((hub) => [redisCjs, redisEsm].map((redis) => redis.resolveHub(hub) === hub));
  // A server from the CJS format, a client from the ESM format.
  const wss = new WebSocket.Server({ port: 0, host: '127.0.0.1' });
  await new Promise((resolve) => wss.once('listening', resolve));
  const serverSide = new Promise((resolve) => wss.once('connection', resolve));
  const client = new esm.default(`ws://127.0.0.1:${wss.address().port}`);
  const peer = await serverSide;
  peer.on('message', (data, isBinary) => peer.send(data, { binary: isBinary }));
  await new Promise((resolve) => client.once('open', resolve));
  client.send('hello');
  const [reply] = await new Promise((resolve) => client.once('message', (...args) => resolve(args)));
  report.echo = { reply: String(reply), crossInstance: peer instanceof esm.WebSocket && client instanceof WebSocket };
  client.close();
  await new Promise((resolve) => wss.close(resolve));
  process.stdout.write(JSON.stringify(report));
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
