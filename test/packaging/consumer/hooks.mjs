// Module hooks that record every ES module loaded from node_modules/@wskit, with its format.
import { appendFileSync } from 'node:fs';

export async function load(url, context, nextLoad) {
  const result = await nextLoad(url, context);
  if (url.includes('/node_modules/@wskit/')) appendFileSync(process.env.WSKIT_LOAD_LOG, `${result.format} ${url}\n`);
  return result;
}
