// The benchmark's baseline: a bare Node HTTP server doing the same work as the v4 'bench'
// function (answer a small JSON body).
const http = require('http');
http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const body = JSON.stringify({ ok: true });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
}).listen(Number(process.env.PORT), '127.0.0.1');
