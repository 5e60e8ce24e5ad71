/**
 * A client that disconnects while its upload is still being set up (before the handler reads
 * the body) must cost nothing: no crash, no handler left hanging, no partial file.
 */
import t from 'tap';
import net from 'node:net';
import { readdirSync, writeFileSync, readFileSync } from 'node:fs';
import { startServer } from '../helpers/server.js';

function sendAndHangUp(port: number, data: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(data);
      socket.destroy();
    });
    socket.on('close', () => resolve());
    socket.on('error', () => resolve());
  });
}

t.test('uploads cut off right after their head leave the server alive and the tree unchanged', async (t) => {
  const s = await startServer(t);
  writeFileSync(`${s.root}/keep.txt`, 'old content');
  const heads = [
    'PUT /keep.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\npartial',
    'PUT /new.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab',
    'PUT /new.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n',
    'PUT /new.txt HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n',
    'PROPPATCH /keep.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n<?xml',
  ];
  for (let round = 0; round < 20; round++) await Promise.all(heads.map((h) => sendAndHangUp(s.port, h)));
  const res = await s.request('GET', '/keep.txt');
  t.equal(res.status, 200, 'the server still answers');
  t.equal(res.body, 'old content', 'the old content is intact');
  t.equal(readFileSync(`${s.root}/keep.txt`, 'utf8'), 'old content');
  // Closing waits for the handlers still running (app.ts), so every cut upload has cleaned up.
  await s.app.close();
  t.same(readdirSync(s.root).filter((n) => n !== '.fastdav').sort(), ['keep.txt'], 'no partial or temporary file is left');
});
