#!/usr/bin/env node
// Autobahn|Testsuite fuzzing-server driver: runs every case against our client, echoing each message.
// Usage: node test/autobahn/client.mjs --url ws://127.0.0.1:9001 --agent wskit [--module @wskit/core]
// --module swaps the client implementation (e.g. `ws` as a control); the default is the built @wskit/core.
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const base = option('url', 'ws://127.0.0.1:9001').replace(/\/+$/, '');
const agent = option('agent', 'wskit');
const moduleName = option('module', '@wskit/core');
const { WebSocket } = await import(moduleName);

/** Opens one connection; resolves on close. `onMessage` gets (socket, data, isBinary). */
function session(path, onMessage) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${base}${path}`, { maxPayload: 64 * 1024 * 1024 });
    ws.on('message', (data, isBinary) => onMessage?.(ws, data, isBinary));
    // Protocol errors fail the connection with the right close code; the report records them.
    ws.on('error', () => {});
    ws.on('close', () => resolve());
  });
}

let count = 0;
await session('/getCaseCount', (_ws, data) => {
  count = Number(String(data));
});
if (!Number.isInteger(count) || count < 0) {
  console.error(`autobahn: bad case count ${count}`);
  process.exit(1);
}
const q = encodeURIComponent(agent);
for (let n = 1; n <= count; n++) {
  await session(`/runCase?case=${n}&agent=${q}`, (ws, data, isBinary) => ws.send(data, { binary: isBinary }));
  if (n % 50 === 0 || n === count) console.log(`autobahn: ${n}/${count} cases`);
}
await session(`/updateReports?agent=${q}`);
console.log(`autobahn: done, ${count} cases, reports updated for ${agent}`);
process.exit(0);
