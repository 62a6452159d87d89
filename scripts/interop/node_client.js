// Node `ws` client: runs checks.js against URL and prints PASS/FAIL lines.
//   node node_client.js ws://127.0.0.1:PORT/path [--server-close]
// `ws` is found through NODE_PATH (scripts/interop.sh installs it under target/).
'use strict';
const WebSocket = require('ws');
const { runCli } = require('./checks.js');

runCli(WebSocket, `node ${process.version}, ws ${require('ws/package.json').version}`, {
  wsOptions: { maxPayload: 64 << 20 },
});
