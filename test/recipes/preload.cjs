// Loaded (--require) into each process that runs one of ws's README recipes, so the recipe's own text runs
// unchanged in a test: what a recipe leaves to its environment is supplied here, nothing in it is rewritten.
// - `listen(8080)` listens on 127.0.0.1, port 0 instead, and the port is printed as "RECIPE_PORT <n>".
// - the recipes' remote hosts (wss://websocket-echo.com/, ws://www.host.com/path) go to the local peer whose
//   port is in RECIPE_PEER_PORT, in plain ws:.
// - '/path/to/cert.pem' and '/path/to/key.pem' read the files named by RECIPE_CERT and RECIPE_KEY.
// - `authenticate(request, next)`, left undefined on purpose by the README, accepts "Bearer <name>".
// - timers of 30 s or more run 100 times faster, so heartbeat recipes are observable within a test.
'use strict';
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const net = require('node:net');
const { syncBuiltinESMExports } = require('node:module');

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  const asked = typeof first === 'object' && first !== null ? first.port : first;
  if (Number(asked) === 8080) {
    this.once('listening', () => process.stdout.write(`RECIPE_PORT ${this.address().port}\n`));
    const callback = args.find((a) => typeof a === 'function');
    return listen.call(this, 0, '127.0.0.1', callback);
  }
  return listen.apply(this, args);
};

const remoteHosts = new Set(['websocket-echo.com', 'www.host.com']);
function toPeer(options) {
  if (typeof options !== 'object' || options === null || !remoteHosts.has(options.host ?? options.hostname))
    return null;
  const { servername: _servername, ...rest } = options;
  return { ...rest, host: '127.0.0.1', hostname: undefined, port: Number(process.env.RECIPE_PEER_PORT) };
}
const httpRequest = http.request;
http.request = function (options, ...rest) {
  return httpRequest.call(this, toPeer(options) ?? options, ...rest);
};
const httpsRequest = https.request;
https.request = function (options, ...rest) {
  const peer = toPeer(options);
  return peer ? httpRequest.call(http, peer, ...rest) : httpsRequest.call(this, options, ...rest);
};

const readFileSync = fs.readFileSync;
const files = { '/path/to/cert.pem': process.env.RECIPE_CERT, '/path/to/key.pem': process.env.RECIPE_KEY };
fs.readFileSync = function (path, ...rest) {
  return readFileSync.call(this, (typeof path === 'string' && files[path]) || path, ...rest);
};

globalThis.authenticate = function authenticate(request, next) {
  const match = /^Bearer (\w+)$/.exec(request.headers.authorization ?? '');
  process.nextTick(() => (match ? next(null, match[1]) : next(new Error('unauthorized'))));
};

for (const name of ['setTimeout', 'setInterval']) {
  const original = globalThis[name];
  globalThis[name] = function (fn, delay, ...rest) {
    return original.call(this, fn, delay >= 30000 ? delay / 100 : delay, ...rest);
  };
}

syncBuiltinESMExports();
