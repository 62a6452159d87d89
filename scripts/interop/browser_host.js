// Serves chromium.html and checks.js on 127.0.0.1:PORT and collects the
// page's results: each POST /result line is appended to OUT_FILE, POST /done
// writes OUT_FILE.done. Plain Node, no packages.
//   node browser_host.js PORT OUT_FILE
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');

const port = Number(process.argv[2]);
const out = process.argv[3];
const files = {
  '/chromium.html': ['text/html; charset=utf-8', path.join(__dirname, 'chromium.html')],
  '/chromium_stream.html': ['text/html; charset=utf-8', path.join(__dirname, 'chromium_stream.html')],
  '/checks.js': ['text/javascript; charset=utf-8', path.join(__dirname, 'checks.js')],
};
fs.writeFileSync(out, '');

const server = http.createServer((req, res) => {
  const pathname = new URL(req.url, 'http://127.0.0.1').pathname;
  if (req.method === 'GET' && files[pathname]) {
    const [type, file] = files[pathname];
    res.writeHead(200, { 'Content-Type': type, 'Cache-Control': 'no-store' });
    res.end(fs.readFileSync(file));
    return;
  }
  if (req.method === 'POST' && (pathname === '/result' || pathname === '/done')) {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8').replace(/\n/g, ' ');
      if (pathname === '/result') fs.appendFileSync(out, body + '\n');
      else fs.writeFileSync(out + '.done', body + '\n');
      res.writeHead(204);
      res.end();
    });
    return;
  }
  res.writeHead(404);
  res.end();
});
server.listen(port, '127.0.0.1', () => console.log(`browser host on http://127.0.0.1:${port}/chromium.html`));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
