// A loopback stand-in for a slow PMS: GET /security/token answered after a
// delay, many keep-alive connections at once (event-driven: setTimeout).
// usage: node bench/slow_server.js DELAY_MS...   one listener per delay on
// 127.0.0.1; prints "PORT <delay> <port>" for each; a delay < 0 never answers
// (a hung server). Runs until killed.
'use strict';
const http = require('http');

const BODY = '{"MediaContainer":{"size":0,"token":"transient-bench-token"}}';

for (const delay of process.argv.slice(2).map(Number)) {
  const srv = http.createServer((req, res) => {
    if (req.headers['x-plex-token'] !== 'bench-token') { res.writeHead(401); res.end(); return; }
    if (!req.url.startsWith('/security/token')) { res.writeHead(404); res.end(); return; }
    if (delay < 0) return; // hung: keeps the request open
    setTimeout(() => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': BODY.length });
      res.end(BODY);
    }, delay);
  });
  srv.keepAliveTimeout = 300e3; // as the bench nginx
  srv.requestTimeout = 0;
  srv.headersTimeout = 0;
  srv.maxConnections = 1000;
  srv.listen(0, '127.0.0.1', () => console.log(`PORT ${delay} ${srv.address().port}`));
}
