// Bun's own WebSocket client: runs checks.js against URL and prints
// PASS/FAIL lines.
//   bun bun_client.js ws://127.0.0.1:PORT/path [--server-close]
const { runChecks } = require('./checks.js');

const url = process.argv[2];
const serverClose = process.argv.includes('--server-close');
let failed = false;
const report = (check, ok, detail) => {
  if (!ok) failed = true;
  console.log(`${ok ? 'PASS' : 'FAIL'} ${check}${detail ? ': ' + detail : ''}`);
};
console.log(`INFO versions: bun ${Bun.version}`);
runChecks(WebSocket, url, report, { serverClose })
  .catch((e) => report('run', false, String(e && e.stack ? e.stack : e)))
  .finally(() => process.exit(failed ? 1 : 0));
