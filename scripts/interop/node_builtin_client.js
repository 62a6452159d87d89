// Node's built-in WebSocket client (undici's, global from Node 22, behind
// --experimental-websocket before): runs checks.js against URL and prints
// PASS/FAIL lines.
//   node [--experimental-websocket] node_builtin_client.js ws://127.0.0.1:PORT/path
'use strict';
const { runChecks } = require('./checks.js');

const url = process.argv[2];
let failed = false;
const report = (check, ok, detail) => {
  if (!ok) failed = true;
  console.log(`${ok ? 'PASS' : 'FAIL'} ${check}${detail ? ': ' + detail : ''}`);
};
if (typeof WebSocket !== 'function') {
  report('run', false, `node ${process.version} has no global WebSocket`);
  process.exit(1);
}
console.log(`INFO versions: node ${process.version}, undici ${process.versions.undici || 'unknown'}`);
runChecks(WebSocket, url, report, { serverClose: false })
  .catch((e) => report('run', false, String(e && e.stack ? e.stack : e)))
  .finally(() => process.exit(failed ? 1 : 0));
