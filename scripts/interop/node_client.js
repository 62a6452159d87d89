// Node `ws` client: runs checks.js against URL and prints PASS/FAIL lines.
//   node node_client.js ws://127.0.0.1:PORT/path [--server-close]
// `ws` is found through NODE_PATH (scripts/interop.sh installs it under target/).
'use strict';
const WebSocket = require('ws');
const { runChecks } = require('./checks.js');

const url = process.argv[2];
const serverClose = process.argv.includes('--server-close');
let failed = false;
const report = (check, ok, detail) => {
  if (!ok) failed = true;
  console.log(`${ok ? 'PASS' : 'FAIL'} ${check}${detail ? ': ' + detail : ''}`);
};
console.log(`INFO versions: node ${process.version}, ws ${require('ws/package.json').version}`);
runChecks(WebSocket, url, report, { serverClose, wsOptions: { maxPayload: 64 << 20 } })
  .catch((e) => report('run', false, String(e && e.stack ? e.stack : e)))
  .finally(() => process.exit(failed ? 1 : 0));
