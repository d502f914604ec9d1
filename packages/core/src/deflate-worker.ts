/**
 * Entry of the deflate worker thread (deflate-offload.ts starts it): runs each batch it is sent and sends the
 * result back, transferring the buffers.
 */
import { parentPort } from 'node:worker_threads';
import { deflateBatch, type DeflateBatchRequest } from './deflate-batch.js';

const port = parentPort;
if (port !== null) {
  port.on('message', (request: DeflateBatchRequest) => {
    const result = deflateBatch(request);
    port.postMessage(result, [result.output.buffer, result.lengths.buffer]);
  });
}
