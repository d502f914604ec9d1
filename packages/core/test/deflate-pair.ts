/**
 * Shared pieces of the sync-deflate and sync-inflate tests: a negotiated PerMessageDeflate pair (through real
 * header text), released after each test, and a compressible JSON-like payload.
 */
import { formatExtensions, parseExtensions } from '../src/extension-header.js';
import { PerMessageDeflate, type PerMessageDeflateOptions } from '../src/permessage-deflate.js';

export const NAME = PerMessageDeflate.extensionName;

const live: PerMessageDeflate[] = [];
afterEach(() => {
  for (const pmd of live.splice(0)) pmd.cleanup();
});

/** Both ends negotiated and ready; released after the test. */
export function deflatePair(
  serverOpts: PerMessageDeflateOptions | undefined,
  clientOpts?: PerMessageDeflateOptions,
  maxPayload = 0,
): { server: PerMessageDeflate; client: PerMessageDeflate } {
  const client = new PerMessageDeflate(clientOpts, false, maxPayload);
  const server = new PerMessageDeflate(serverOpts, true, maxPayload);
  const request = formatExtensions({ [NAME]: client.offer() });
  const response = formatExtensions({ [NAME]: server.accept(parseExtensions(request)[NAME] ?? []) });
  client.accept(parseExtensions(response)[NAME] ?? []);
  live.push(server, client);
  return { server, client };
}

/** `n` repeats of a small JSON object after a `seed:` prefix. */
export const text = (n: number, seed = 'x'): Buffer => Buffer.from(`${seed}:${'{"a":1,"b":"two"} '.repeat(n)}`);
