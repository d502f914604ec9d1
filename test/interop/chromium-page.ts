/** The page Chromium loads for the interop test; it reports its observations through `window.report`. */
export const PAGE_SIZES = [0, 1, 125, 126, 127, 65535, 65536, 1 << 20, 8 << 20];

export interface PageReport {
  protocol: string;
  extensions: string;
  echoes: Array<{ kind: 'text' | 'arraybuffer' | 'blob'; size: number; same: boolean }>;
  clientClose: { code: number; reason: string; wasClean: boolean };
  serverClose: { code: number; reason: string; wasClean: boolean };
  errors: string[];
}

// Runs in the browser: plain JS, no imports.
const script = String.raw`
const sizes = ${JSON.stringify(PAGE_SIZES)};
function pattern(n) {
  const a = new Uint8Array(n);
  for (let i = 0; i < n; i++) a[i] = (i * 31 + 7) & 255;
  return a;
}
function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['chat', 'superchat']);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error('websocket error before open'));
  });
}
function next(ws) {
  return new Promise((resolve) => { ws.onmessage = (e) => resolve(e.data); });
}
function closed(ws) {
  return new Promise((resolve) => { ws.onclose = (e) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean }); });
}
window.runScenario = async () => {
  const url = 'ws://' + location.host + '/ws';
  const report = { echoes: [], errors: [] };
  const ws = await open(url);
  ws.addEventListener('error', () => report.errors.push('error event'));
  report.protocol = ws.protocol;
  report.extensions = ws.extensions;
  for (const size of sizes) {
    const text = 'x'.repeat(size);
    ws.send(text);
    const gotText = await next(ws);
    report.echoes.push({ kind: 'text', size, same: gotText === text });
    const bytes = pattern(size);
    ws.send(bytes.buffer);
    const gotBuffer = await next(ws);
    report.echoes.push({ kind: 'arraybuffer', size, same: gotBuffer instanceof ArrayBuffer && sameBytes(new Uint8Array(gotBuffer), bytes) });
    ws.send(new Blob([bytes]));
    const gotBlob = await next(ws);
    report.echoes.push({ kind: 'blob', size, same: gotBlob instanceof ArrayBuffer && sameBytes(new Uint8Array(gotBlob), bytes) });
  }
  const clientClosed = closed(ws);
  ws.close(4000, 'page done ✓');
  report.clientClose = await clientClosed;
  const second = await open(url);
  const serverClosed = closed(second);
  second.send('close:4001:server bye ✓');
  report.serverClose = await serverClosed;
  return report;
};
`;

export const PAGE_HTML = `<!doctype html><meta charset="utf-8"><title>wskit interop</title><script>${script}</script>`;
