// The control side shared by the topic servers (Node and Bun): "READY <port>" on stdout, then one command per
// stdin line: `publish <json>` runs a publish loop (`perTurn` publishes per loop turn, as a ticker would) and answers
// "PUBLISHED <queued>"; `count` answers "COUNT <subscriptions>".
import { createInterface } from 'node:readline';

/**
 * @param {number} port
 * @param {{ publish(topic: string, data: Buffer, compress: boolean): number, subscriptions(): number }} impl
 */
export function serveTopicControl(port, impl) {
  process.stdout.write(`READY ${port}\n`);
  createInterface({ input: process.stdin }).on('line', (line) => {
    const space = line.indexOf(' ');
    const command = space < 0 ? line : line.slice(0, space);
    if (command === 'count') {
      process.stdout.write(`COUNT ${impl.subscriptions()}\n`);
      return;
    }
    if (command !== 'publish') return;
    const { topics, count, size, compress, perTurn = 1 } = JSON.parse(line.slice(space + 1));
    // Compressible text-like payload (deflate scenario) or plain bytes.
    const data = Buffer.from(
      '{"ticker":"ACME","price":123.45,"volume":6789} '.repeat(Math.ceil(size / 48)).slice(0, size),
    );
    let queued = 0;
    let i = 0;
    const step = () => {
      const end = Math.min(count, i + perTurn);
      for (; i < end; i++) queued += impl.publish(`t${i % topics}`, data, compress);
      if (i < count) setImmediate(step);
      else process.stdout.write(`PUBLISHED ${queued}\n`);
    };
    step();
  });
  process.stdin.on('end', () => process.exit(0));
}

/** Topic name from the request URL (`/?t=t12`). */
export function topicOf(url) {
  const q = url.indexOf('?t=');
  return q < 0 ? 't0' : url.slice(q + 3);
}
