import net from 'node:net';
const port = Number(process.argv[2]);
const cases = {
  'FOO': 'FOO / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  'POST': 'POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
  'TRACE': 'TRACE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  'SEARCH': 'SEARCH / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  'CONNECT': 'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  'CL+TE': 'PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nDELETE /v HTTP/1.1\r\nHost: x\r\n\r\n',
  'TE xchunked': 'PUT /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n',
  'TE chunked,identity': 'PUT /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n',
  'TE space': 'PUT /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n',
  'dup CL': 'PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
  'CL +': 'PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\na',
  'NUL': 'GET /a\0b HTTP/1.1\r\nHost: x\r\n\r\n',
  'bare LF': 'GET / HTTP/1.1\nHost: x\n\n',
  'absolute': 'GET http://x/../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  'no host': 'GET / HTTP/1.1\r\nConnection: close\r\n\r\n',
  'backslash': 'GET /..\\..\\etc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
};
for (const [name, data] of Object.entries(cases)) {
  await new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1'); let got = '';
    s.write(data); s.on('data', (d) => got += d); const t = setTimeout(() => { s.destroy(); console.log(name, '=>', JSON.stringify(got.split('\r\n')[0]), '(open)'); resolve(); }, 500);
    s.on('close', () => { clearTimeout(t); console.log(name, '=>', JSON.stringify([...got.matchAll(/HTTP\/1.1 \d+[^\r]*/g)].map(m=>m[0]))); resolve(); });
    s.on('error', () => {});
  });
}
