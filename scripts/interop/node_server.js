// Node `ws` echo server for our client: echoes text and binary, picks the
// first offered subprotocol, echoes the close frame (ws does), and on the text
// "please close" closes with 4001 "server bye ✓".
//   node node_server.js PORT
'use strict';
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2]);
const wss = new WebSocketServer({
  host: '127.0.0.1',
  port,
  maxPayload: 64 << 20,
  perMessageDeflate: true,
  handleProtocols: (protocols) => {
    const first = protocols.values().next();
    return first.done ? false : first.value;
  },
});
wss.on('listening', () => console.log(`node ws ${require('ws/package.json').version} echo server on ws://127.0.0.1:${port}`));
wss.on('connection', (ws, req) => {
  const peer = `${req.socket.remotePort}`;
  ws.on('message', (data, isBinary) => {
    if (!isBinary && data.toString() === 'please close') {
      ws.close(4001, 'server bye ✓');
      return;
    }
    ws.send(data, { binary: isBinary });
  });
  ws.on('close', (code, reason) => console.log(`${peer}: closed ${code} ${JSON.stringify(reason.toString())}`));
  ws.on('error', (e) => console.log(`${peer}: error ${e.message}`));
});
const stop = () => wss.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
