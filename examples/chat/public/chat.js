// The one browser client of all five demos. It reads which integration it talks to from its own URL
// (/express/ → /express/login, /express/rooms/:room), so every demo runs the same page.
/* global CSS, document, getComputedStyle, location, window -- this file runs in the browser */
'use strict';

const TITLES = { core: 'Core (no framework)', express: 'Express', fastify: 'Fastify', koa: 'Koa', nest: 'Nest' };
const HOW = {
  core: 'The core WebSocketRouter checks a cookie session per request and rejects with 401.',
  express: 'express-session and a requireLogin middleware run on the upgrade request.',
  fastify: '@fastify/session and a preHandler hook run on the upgrade request.',
  koa: 'koa-session and the @koa/router route run on the upgrade request (ctx.throw(401)).',
  nest: 'The gateway’s class guard runs on the upgrade request and throws UnauthorizedException.',
};
const integration = location.pathname.split('/')[1];
const base = `/${integration}`;
// Same host and port as the page; wss:// whenever the page itself came over https.
const socketBase = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${base}`;
const $ = (id) => document.getElementById(id);

let name = null; // the session's name once logged in
let room = decodeURIComponent(location.hash.slice(1)) || 'lobby';
let socket = null;
let attempt = 0;
let retryTimer = null;
const OUTBOX_KEY = `wskit-outbox-${integration}`;
/** Messages typed but not yet confirmed by the server: kept across reconnects (and reloads of this tab). */
let outbox = JSON.parse(sessionStorage.getItem(OUTBOX_KEY) ?? '[]');
const samples = [];

document.title = `wskit · ${TITLES[integration] ?? integration} demo`;
$('title').textContent = `${TITLES[integration] ?? integration} demo`;
$('how').textContent = HOW[integration] ?? '';
$('room').value = room;

function setStatus(kind, text) {
  $('status').className = `status ${kind}`;
  $('status').textContent = text;
}

function saveOutbox() {
  sessionStorage.setItem(OUTBOX_KEY, JSON.stringify(outbox));
  const waiting = outbox.filter((m) => m.room === room).length;
  $('pending').hidden = waiting === 0;
  $('pending').textContent = `${waiting} message${waiting === 1 ? '' : 's'} waiting to be sent`;
}

function time(at) {
  const element = document.createElement('time');
  element.dateTime = new Date(at).toISOString();
  element.textContent = new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return element;
}

/** Shows a message once (by id); a pending line is replaced when the server confirms it. */
function showMessage(message, pending = false) {
  let item = document.querySelector(`#log li[data-id="${CSS.escape(message.id)}"]`);
  if (item && !item.classList.contains('pending')) return;
  const fresh = !item;
  item ??= document.createElement('li');
  item.replaceChildren();
  item.dataset.id = message.id;
  item.className = `${message.from === name ? 'mine' : ''}${pending ? ' pending' : ''}`.trim();
  const from = document.createElement('span');
  from.className = 'from';
  from.textContent = message.from === name ? 'you' : message.from;
  item.append(from, document.createTextNode(message.text));
  if (pending) {
    const note = document.createElement('time');
    note.textContent = 'sending…';
    item.append(note);
  } else item.append(time(message.at));
  if (fresh) appendToLog(item);
}

function notice(text) {
  const item = document.createElement('li');
  item.className = 'notice';
  item.textContent = text;
  appendToLog(item);
}

function appendToLog(item) {
  const log = $('log');
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.append(item);
  while (log.children.length > 300) log.firstElementChild.remove();
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function flushOutbox() {
  if (socket?.readyState !== WebSocket.OPEN) return;
  for (const message of outbox) {
    if (message.room === room) socket.send(JSON.stringify({ type: 'say', id: message.id, text: message.text }));
  }
}

function onMessage(event) {
  let message;
  try {
    message = JSON.parse(event.data);
  } catch {
    return;
  }
  if (message.type === 'hello') {
    name = message.you;
    $('you').textContent = name;
    for (const said of message.history) confirm(said);
    for (const m of outbox) if (m.room === room) showMessage({ id: `${name}/${m.id}`, from: name, text: m.text }, true);
    showMembers(message.members);
    flushOutbox();
  } else if (message.type === 'message') confirm(message);
  else if (message.type === 'presence') showMembers(message.members);
  else if (message.type === 'stats') showStats(message);
  else if (message.type === 'error') notice(`server: ${message.message}`);
  else if (message.event === 'exception') notice(`server: ${message.data?.message ?? 'error'}`);
}

function confirm(message) {
  showMessage(message);
  const before = outbox.length;
  outbox = outbox.filter((m) => `${name}/${m.id}` !== message.id);
  if (outbox.length !== before) saveOutbox();
}

function showMembers(members) {
  $('members').textContent = `${members.length} here: ${members.join(', ')}`;
}

function showStats(stats) {
  $('connections').textContent = String(stats.connections);
  $('rate').textContent = String(stats.messagesPerSecond);
  $('rtt').textContent = stats.rttMs === null ? '–' : `${stats.rttMs} ms`;
  samples.push(stats);
  if (samples.length > 60) samples.shift();
  drawChart();
}

function drawChart() {
  const canvas = $('chart');
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 320;
  const height = canvas.clientHeight || 90;
  if (canvas.width !== Math.round(width * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const g = canvas.getContext('2d');
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  const styles = getComputedStyle(document.documentElement);
  const line = (pick, color) => {
    const max = Math.max(1, ...samples.map(pick));
    g.strokeStyle = color;
    g.lineWidth = 2;
    g.beginPath();
    samples.forEach((sample, i) => {
      const x = (i / 59) * (width - 4) + 2;
      const y = height - 4 - (pick(sample) / max) * (height - 8);
      if (i === 0) g.moveTo(x, y);
      else g.lineTo(x, y);
    });
    g.stroke();
  };
  line((s) => s.messagesPerSecond, styles.getPropertyValue('--accent').trim() || '#1f6feb');
  line((s) => s.connections, styles.getPropertyValue('--good').trim() || '#1a7f37');
  canvas.dataset.samples = String(samples.length);
}

function connect() {
  clearTimeout(retryTimer);
  const ws = new WebSocket(`${socketBase}/rooms/${encodeURIComponent(room)}`);
  socket = ws;
  let opened = false;
  setStatus('connecting', attempt ? `reconnecting (attempt ${attempt + 1})…` : 'connecting…');
  ws.onopen = () => {
    opened = true;
    attempt = 0;
    setStatus('online', 'online');
  };
  ws.onmessage = onMessage;
  ws.onclose = (event) => {
    if (socket !== ws) return; // replaced on purpose (room switch, logout)
    socket = null;
    if (opened) notice(`disconnected (${event.code}${event.reason ? `: ${event.reason}` : ''})`);
    scheduleReconnect();
  };
}

/** Exponential backoff with jitter: 0.5 s, 1 s, 2 s, … up to 10 s. */
function scheduleReconnect() {
  const delay = Math.min(10_000, 500 * 2 ** attempt) * (0.8 + Math.random() * 0.4);
  attempt++;
  const due = Date.now() + delay;
  const tick = () => {
    const left = Math.max(0, Math.ceil((due - Date.now()) / 1000));
    const waiting = outbox.filter((m) => m.room === room).length;
    setStatus('reconnecting', `reconnecting in ${left} s${waiting ? ` · ${waiting} unsent` : ''}`);
    if (Date.now() >= due) return void resume();
    retryTimer = setTimeout(tick, Math.min(1000, due - Date.now()));
  };
  tick();
}

/** Before reopening: is the session still there? (A restarted server forgot it: log in again as the same name.) */
async function resume() {
  try {
    const me = await (await fetch(`${base}/me`)).json();
    if (!me.name && name) await login(name);
    connect();
  } catch {
    scheduleReconnect(); // the server is still down
  }
}

async function login(wanted) {
  const res = await fetch(`${base}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: wanted }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error ?? body.message ?? `HTTP ${res.status}`);
  return body.name;
}

function enterChat(who) {
  name = who;
  localStorage.setItem('wskit-name', who);
  $('you').textContent = who;
  $('login').hidden = true;
  $('chat').hidden = false;
  $('refusal').hidden = true;
  saveOutbox();
  connect();
  $('text').focus();
}

$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('login-button').disabled = true; // one login, one socket, whatever the number of clicks
  try {
    enterChat(await login($('name').value.trim()));
  } catch (error) {
    $('refusal').hidden = false;
    $('refusal').textContent = `Login failed: ${error.message}`;
  } finally {
    $('login-button').disabled = false;
  }
});

$('anonymous').addEventListener('click', () => {
  $('refusal').hidden = false;
  $('refusal').textContent = 'connecting without a session…';
  const ws = new WebSocket(`${socketBase}/rooms/${encodeURIComponent(room)}`);
  ws.onopen = () => {
    $('refusal').textContent = 'Unexpected: the upgrade was accepted';
    ws.close();
  };
  // A browser never sees the status of a refused upgrade; a plain GET of the same URL runs the same check.
  ws.onclose = async (event) => {
    if (event.code !== 1006) return;
    const res = await fetch(`${base}/rooms/${encodeURIComponent(room)}`);
    const text = await res.text();
    let detail = text;
    try {
      const body = JSON.parse(text);
      detail = typeof body.message === 'string' ? body.message : (body.error ?? text);
    } catch {
      // not JSON: show the text as it came
    }
    $('refusal').textContent = `Upgrade refused: HTTP ${res.status} — ${detail}`;
    $('refusal').dataset.status = String(res.status);
  };
});

$('say-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const text = $('text').value;
  if (!text.trim()) return;
  const message = { id: `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`, room, text };
  outbox.push(message);
  saveOutbox();
  showMessage({ id: `${name}/${message.id}`, from: name, text }, true);
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: 'say', id: message.id, text }));
  $('text').value = '';
});

$('room-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const next = $('room').value.trim();
  if (next === room) return;
  room = next;
  location.hash = room;
  const old = socket;
  socket = null;
  old?.close(1000, 'switching rooms');
  $('log').replaceChildren();
  attempt = 0;
  saveOutbox();
  connect();
});

$('logout').addEventListener('click', async () => {
  const old = socket;
  socket = null;
  clearTimeout(retryTimer);
  old?.close(1000, 'logged out');
  await fetch(`${base}/logout`, { method: 'POST' });
  name = null;
  localStorage.removeItem('wskit-name');
  $('chat').hidden = true;
  $('login').hidden = false;
  $('log').replaceChildren();
  setStatus('offline', 'offline');
});

window.addEventListener('resize', drawChart);

// On load: an existing session goes straight to the chat; otherwise the last name is suggested.
fetch(`${base}/me`)
  .then((res) => res.json())
  .then((me) => {
    if (me.name) enterChat(me.name);
    // Only into an empty field: whoever started typing before this answer came keeps what they typed.
    else if (!$('name').value) $('name').value = localStorage.getItem('wskit-name') ?? '';
  })
  .catch(() => setStatus('offline', 'server unreachable'));
