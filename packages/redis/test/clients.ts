/** Redis clients of both libraries, made the same way for the tests (fast reconnects, errors swallowed). */
import { Cluster, Redis } from 'ioredis';
import { createClient, createCluster } from 'redis';

export type ClientKind = 'redis' | 'ioredis';
export const KINDS: ClientKind[] = ['redis', 'ioredis'];

export interface TestClient {
  client: unknown;
  close(): Promise<void>;
}

export async function makeClient(kind: ClientKind, url: string): Promise<TestClient> {
  if (kind === 'redis') {
    const client = createClient({ url, socket: { reconnectStrategy: () => 50, connectTimeout: 2000 } });
    client.on('error', () => {});
    await client.connect();
    return { client, close: async () => client.destroy() };
  }
  const client = new Redis(url, { retryStrategy: () => 50, maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve);
    client.once('end', () => reject(new Error('ioredis did not connect')));
  });
  return { client, close: async () => client.disconnect() };
}

export async function makeClusterClient(kind: ClientKind, ports: number[]): Promise<TestClient> {
  if (kind === 'redis') {
    const cluster = createCluster({ rootNodes: ports.map((port) => ({ url: `redis://127.0.0.1:${port}` })) });
    cluster.on('error', () => {});
    await cluster.connect();
    return { client: cluster, close: async () => cluster.destroy() };
  }
  const cluster = new Cluster(
    ports.map((port) => ({ host: '127.0.0.1', port })),
    { shardedSubscribers: true },
  );
  cluster.on('error', () => {});
  await new Promise<void>((resolve) => cluster.once('ready', resolve));
  return { client: cluster, close: async () => cluster.disconnect() };
}
