/**
 * Real Redis for the tests: Debian's redis-server (installed by scripts/ensure-peers.mjs) on 127.0.0.1 with a
 * free port, no persistence unless asked, stopped by PID; and a 3-master local Redis Cluster.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const REDIS_SERVER = '/usr/bin/redis-server';
const REDIS_CLI = '/usr/bin/redis-cli';
const execFileP = promisify(execFile);

export interface RedisOptions {
  /** appendonly yes with appendfsync always in `dir`, so a restart (even after SIGKILL) keeps every write. */
  persist?: boolean;
  cluster?: boolean;
  port?: number;
  dir?: string;
}

export interface RedisProcess {
  port: number;
  url: string;
  dir: string;
  pid: number;
  /** SIGKILL by PID, waits for the exit. */
  kill(): Promise<void>;
  /** Starts it again on the same port and dir. */
  restart(): Promise<void>;
  /** SIGTERM by PID (SIGKILL after 3 s), then removes its temporary dir. */
  stop(): Promise<void>;
  cli(...args: string[]): Promise<string>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  server.close();
  await once(server, 'close');
  return port;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function waitPing(port: number, child: ChildProcess, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    if (await canConnect(port)) {
      const out = await cli(port, 'PING').catch(() => '');
      if (out.trim() === 'PONG') return true;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

export async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await execFileP(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(port), ...args], {
    timeout: 10_000,
  });
  return stdout;
}

function spawnServer(port: number, dir: string, options: RedisOptions): ChildProcess {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--daemonize', 'no'];
  args.push('--appendonly', options.persist ? 'yes' : 'no');
  if (options.persist) args.push('--appendfsync', 'always');
  if (options.cluster) args.push('--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf');
  args.push('--loglevel', 'warning');
  return spawn(REDIS_SERVER, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Starts a redis-server on a free port (a port taken meanwhile: tries another, up to 5 times). */
export async function startRedis(options: RedisOptions = {}): Promise<RedisProcess> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'wskit-redis-'));
  let child: ChildProcess | null = null;
  let port = 0;
  for (let attempt = 0; attempt < 5 && child === null; attempt++) {
    port = options.port ?? (await freePort());
    const c = spawnServer(port, dir, options);
    if (await waitPing(port, c, 5_000)) child = c;
    else if (c.exitCode === null) {
      c.kill('SIGKILL');
      await once(c, 'exit');
    }
  }
  if (child === null) throw new Error('redis-server did not start');
  let current: ChildProcess = child;
  const exit = async (signal: NodeJS.Signals): Promise<void> => {
    if (current.exitCode !== null || current.signalCode !== null) return;
    const exited = once(current, 'exit');
    process.kill(current.pid!, signal);
    const timer = setTimeout(() => current.exitCode === null && process.kill(current.pid!, 'SIGKILL'), 3_000);
    await exited;
    clearTimeout(timer);
  };
  const handle: RedisProcess = {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    get pid() {
      return current.pid!;
    },
    kill: () => exit('SIGKILL'),
    async restart() {
      await exit('SIGKILL');
      for (let attempt = 0; attempt < 50; attempt++) {
        const c = spawnServer(port, dir, options);
        if (await waitPing(port, c, 5_000)) {
          current = c;
          return;
        }
        if (c.exitCode === null) c.kill('SIGKILL');
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error('redis-server did not restart');
    },
    async stop() {
      await exit('SIGTERM');
      if (options.dir === undefined) rmSync(dir, { recursive: true, force: true });
    },
    cli: (...args) => cli(port, ...args),
  };
  return handle;
}

export interface RedisCluster {
  nodes: RedisProcess[];
  ports: number[];
  stop(): Promise<void>;
}

/** Three cluster-enabled masters joined with redis-cli --cluster create; resolves at cluster_state:ok. */
export async function startCluster(): Promise<RedisCluster> {
  const nodes: RedisProcess[] = [];
  try {
    for (let i = 0; i < 3; i++) nodes.push(await startRedis({ cluster: true }));
    await execFileP(
      REDIS_CLI,
      ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'],
      { timeout: 30_000 },
    );
    const until = Date.now() + 20_000;
    for (;;) {
      const states = await Promise.all(nodes.map((n) => n.cli('CLUSTER', 'INFO')));
      if (states.every((s) => s.includes('cluster_state:ok'))) break;
      if (Date.now() > until) throw new Error('the Redis Cluster did not reach cluster_state:ok');
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (error) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw error;
  }
  return {
    nodes,
    ports: nodes.map((n) => n.port),
    stop: async () => void (await Promise.all(nodes.map((n) => n.stop()))),
  };
}
