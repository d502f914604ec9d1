/** Child-process helpers for peers driven from jest (python scripts, node scripts). */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';

/** Runs a command to completion with a hard time limit; resolves with its exit code and output. */
export async function run(
  command: string,
  args: string[],
  timeoutMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** A long-running peer that prints "READY <port>" once listening; collects its stdout lines. */
export interface Peer {
  port: number;
  lines: string[];
  child: ChildProcessWithoutNullStreams;
  /** Resolves once a line matching pred has been printed (false after timeoutMs). */
  waitForLine: (pred: (line: string) => boolean, timeoutMs: number) => Promise<boolean>;
  stop: () => Promise<void>;
}

export async function startPeer(command: string, args: string[], timeoutMs = 10_000): Promise<Peer> {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const listeners = new Set<() => void>();
  let partial = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
  child.stdout.on('data', (chunk: Buffer) => {
    partial += chunk.toString();
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
    for (const listener of listeners) listener();
  });
  const waitForLine = (pred: (line: string) => boolean, ms: number): Promise<boolean> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (lines.some(pred)) finish(true);
      };
      const timer = setTimeout(() => finish(false), ms);
      const finish = (value: boolean): void => {
        clearTimeout(timer);
        listeners.delete(check);
        resolve(value);
      };
      listeners.add(check);
      check();
    });
  const exited = once(child, 'exit');
  const ready = await Promise.race([waitForLine((l) => l.startsWith('READY '), timeoutMs), exited.then(() => false)]);
  if (!ready) {
    child.kill('SIGKILL');
    throw new Error(`${command} ${args.join(' ')} did not become ready: ${stderr}`);
  }
  const port = Number(lines.find((l) => l.startsWith('READY '))?.split(' ')[1]);
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  };
  return { port, lines, child, waitForLine, stop };
}
