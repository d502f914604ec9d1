/**
 * writeHttpError() on a socket that can no longer carry a response: the peer went away (or the socket was
 * ended) before the refusal was written, so nothing is written and the socket is simply destroyed.
 */
import { PassThrough } from 'node:stream';
import { writeHttpError } from '@wskit/core';

test('a destroyed socket is left destroyed and gets no response written', () => {
  const socket = new PassThrough();
  const write = jest.spyOn(socket, 'write');
  const end = jest.spyOn(socket, 'end');
  socket.destroy();
  writeHttpError(socket, 400, 'Bad');
  expect(write).not.toHaveBeenCalled();
  expect(end).not.toHaveBeenCalled();
  expect(socket.destroyed).toBe(true);
});

test('an ended (no longer writable) socket is destroyed instead of written to', () => {
  const socket = new PassThrough();
  socket.end();
  const write = jest.spyOn(socket, 'write');
  expect(socket.writable).toBe(false);
  writeHttpError(socket, 503);
  expect(write).not.toHaveBeenCalled();
  expect(socket.destroyed).toBe(true);
});
