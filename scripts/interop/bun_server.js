// Bun.serve echo server (uWebSockets underneath) for our client: echoes text
// and binary, picks the first offered subprotocol, negotiates
// permessage-deflate, and on the text "please close" closes with 4001
// "server bye ✓".
//   bun bun_server.js PORT
const port = Number(process.argv[2]);
const server = Bun.serve({
  hostname: '127.0.0.1',
  port,
  fetch(req, server) {
    const offered = (req.headers.get('sec-websocket-protocol') || '')
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p);
    const headers = offered.length ? { 'Sec-WebSocket-Protocol': offered[0] } : {};
    if (server.upgrade(req, { headers })) return undefined;
    return new Response('websocket only', { status: 400 });
  },
  websocket: {
    maxPayloadLength: 64 << 20,
    perMessageDeflate: true,
    message(ws, data) {
      if (typeof data === 'string' && data === 'please close') {
        ws.close(4001, 'server bye ✓');
        return;
      }
      ws.send(data);
    },
    close(ws, code, reason) {
      console.log(`closed ${code} ${JSON.stringify(reason)}`);
    },
  },
});
console.log(`bun ${Bun.version} echo server on ws://127.0.0.1:${server.port}`);
