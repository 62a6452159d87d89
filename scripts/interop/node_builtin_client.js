// Node's built-in WebSocket client (undici's, global from Node 22, behind
// --experimental-websocket before): runs checks.js against URL and prints
// PASS/FAIL lines.
//   node [--experimental-websocket] node_builtin_client.js ws://127.0.0.1:PORT/path
'use strict';
const { runCli } = require('./checks.js');

runCli(globalThis.WebSocket, `node ${process.version}, undici ${process.versions.undici || 'unknown'}`, {
  serverClose: false,
});
