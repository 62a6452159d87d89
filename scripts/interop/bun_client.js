// Bun's own WebSocket client: runs checks.js against URL and prints
// PASS/FAIL lines.
//   bun bun_client.js ws://127.0.0.1:PORT/path [--server-close]
const { runCli } = require('./checks.js');

runCli(globalThis.WebSocket, `bun ${Bun.version}`);
