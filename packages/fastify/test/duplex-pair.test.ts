import { createDuplexPair } from '../src/duplex-pair.js';

describe('createDuplexPair', () => {
  test('bytes cross over in order, and a full reader holds back the writer until it reads', async () => {
    const [a, b] = createDuplexPair();
    const chunk = Buffer.alloc(1024, 1);
    let accepted = 0;
    while (a.write(chunk) && accepted < 1000) accepted++;
    // Nobody reads b: once its buffer (16 KiB) and a's (16 KiB) are full, write() says stop.
    expect(accepted).toBeLessThan(100);
    let received = 0;
    b.on('data', (c: Buffer) => (received += c.length));
    await new Promise<void>((resolve) => a.once('drain', () => resolve()));
    a.end(Buffer.from('end'));
    await new Promise<void>((resolve) => b.once('end', () => resolve()));
    expect(received).toBe((accepted + 1) * chunk.length + 3);
  });

  test('destroying one end closes both', async () => {
    const [a, b] = createDuplexPair();
    const bClosed = new Promise<void>((resolve) => b.once('close', () => resolve()));
    a.destroy();
    await bClosed;
    expect(b.destroyed).toBe(true);
  });
});
