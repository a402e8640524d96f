// A small Node.js app for `why502 lab` (optional: used only when `node` is installed).
// GET /api/report* throws inside an async callback: an uncaught exception kills the whole
// process (Node's default), so in-flight requests are cut and nothing listens afterwards.
// Usage: node node_backend.js HOST PORT READY_FILE
'use strict';
const http = require('http');
const fs = require('fs');
const [host, port, ready] = process.argv.slice(2);
if (host !== '127.0.0.1' && host !== '::1') {
  console.error('node_backend.js: only loopback addresses are allowed');
  process.exit(2);
}
const server = http.createServer((req, res) => {
  if (req.url.startsWith('/api/report')) {
    setTimeout(() => {
      const rows = undefined;
      res.end(JSON.stringify(rows.map((r) => r.total)));  // TypeError: uncaught, process dies
    }, 100);
    return;
  }
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end('{"ok":true}\n');
});
server.listen(Number(port), host, () => fs.writeFileSync(ready, ''));
process.on('SIGTERM', () => process.exit(0));
