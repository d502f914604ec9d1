#!/usr/bin/env node
// The demo started by `npm start`: a landing page and one live chat per integration (core, Express,
// Fastify, Koa, Nest), all on one port. Prints `READY <port>` once everything listens.
// Usage (after `npm run build`): node examples/chat/index.mjs [--port 8080] [--host 127.0.0.1]
const fail = (message, code = 2) => {
  console.error(`wskit demo: ${message}`);
  process.exit(code);
};

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  if (at < 0) return fallback;
  if (at + 1 >= args.length) fail(`--${name} needs a value`);
  return args[at + 1];
};
for (const arg of args) {
  if (arg.startsWith('--') && !['--port', '--host'].includes(arg))
    fail(`unknown option ${arg} (options: --port N, --host ADDRESS)`);
}
const portText = String(option('port', process.env.PORT ?? '8080'));
const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
if (!(port >= 0 && port <= 65535)) fail(`--port must be a whole number from 0 to 65535, not "${portText}"`);
const host = option('host', '127.0.0.1');

// Loaded after the options are checked, so a usage error never waits for five frameworks to load.
let demo;
try {
  const { createDemo } = await import('./server.mjs');
  demo = await createDemo();
} catch (error) {
  if (error.code === 'ERR_MODULE_NOT_FOUND' && /@wskit|packages/.test(error.message)) {
    fail('the packages are not built: run `npm run build` first (`npm start` does)', 1);
  }
  fail(`could not start: ${error.message}`, 1);
}
demo.server.on('error', (error) => {
  if (error.code === 'EADDRINUSE')
    fail(`port ${port} on ${host} is already in use; pick another with --port N (0: any free port)`, 1);
  if (error.code === 'EACCES') fail(`not allowed to listen on port ${port}; pick one above 1023 with --port N`, 1);
  if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND') fail(`cannot listen on host ${host}`, 1);
  fail(error.message, 1);
});
demo.server.listen(port, host, () => {
  const actual = demo.server.address().port;
  console.log(`READY ${actual}`);
  console.log(`wskit demo: open http://${host.includes(':') ? `[${host}]` : host}:${actual}/ (Ctrl+C to stop)`);
});

const stop = () => {
  setTimeout(() => process.exit(0), 3000).unref();
  void demo.close().then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
