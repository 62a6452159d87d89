// Node's own http2 client against our h2_echo_server (RFC 8441): waits for
// the server's SETTINGS_ENABLE_CONNECT_PROTOCOL, opens WebSockets as
// extended CONNECT streams of one session and exchanges masked frames it
// builds itself (RFC 6455 §5.2, §5.3), then closes each with a close frame
// and expects the echoed close and END_STREAM. Plain Node, no packages.
//   node node_h2_client.js http://127.0.0.1:PORT     (h2c, prior knowledge)
//   node node_h2_client.js https://127.0.0.1:PORT    (TLS, ALPN h2; any certificate)
// Prints INFO/PASS/FAIL lines; exits 1 on any failure.
'use strict';
const http2 = require('http2');
const crypto = require('crypto');

const base = process.argv[2];
const tls = base.startsWith('https:');
const prefix = 'h2';
let failed = false;
const report = (check, ok, detail) => {
  if (!ok) failed = true;
  console.log(`${ok ? 'PASS' : 'FAIL'} ${prefix}.${check}${detail ? ': ' + detail : ''}`);
};

// A client frame: FIN, opcode, masked payload.
function frame(opcode, payload) {
  const len = payload.length;
  const head = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const out = Buffer.alloc(head + 4 + len);
  out[0] = 0x80 | opcode;
  if (len < 126) out[1] = 0x80 | len;
  else if (len < 65536) { out[1] = 0x80 | 126; out.writeUInt16BE(len, 2); }
  else { out[1] = 0x80 | 127; out.writeBigUInt64BE(BigInt(len), 2); }
  const key = crypto.randomBytes(4);
  key.copy(out, head);
  for (let i = 0; i < len; i++) out[head + 4 + i] = payload[i] ^ key[i & 3];
  return out;
}

// Server frames from a stream: resolves messages {opcode, payload} in order.
function reader(stream) {
  let buf = Buffer.alloc(0);
  let parts = [];
  let partOpcode = 0;
  const messages = [];
  const waiters = [];
  let ended = false;
  const deliver = () => {
    while (waiters.length && (messages.length || ended)) {
      waiters.shift()(messages.length ? messages.shift() : null);
    }
  };
  stream.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      if (buf.length < 2) break;
      const fin = (buf[0] & 0x80) !== 0;
      const opcode = buf[0] & 0x0f;
      if (buf[1] & 0x80) { messages.push({ opcode: -1, payload: Buffer.from('masked server frame') }); break; }
      let len = buf[1] & 0x7f;
      let at = 2;
      if (len === 126) { if (buf.length < 4) break; len = buf.readUInt16BE(2); at = 4; }
      else if (len === 127) { if (buf.length < 10) break; len = Number(buf.readBigUInt64BE(2)); at = 10; }
      if (buf.length < at + len) break;
      const payload = buf.subarray(at, at + len);
      buf = buf.subarray(at + len);
      if (opcode >= 8) { messages.push({ opcode, payload }); continue; }
      if (opcode !== 0) partOpcode = opcode;
      parts.push(payload);
      if (fin) { messages.push({ opcode: partOpcode, payload: Buffer.concat(parts) }); parts = []; }
    }
    deliver();
  });
  stream.on('end', () => { ended = true; deliver(); });
  stream.on('close', () => { ended = true; deliver(); });
  const next = (ms) => new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ opcode: -2, payload: Buffer.from('timeout') }), ms);
    waiters.push((m) => { clearTimeout(timer); resolve(m); });
    deliver();
  });
  return { next, ended: () => ended };
}

function open(session, path) {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ':method': 'CONNECT',
      ':protocol': 'websocket',
      ':scheme': tls ? 'https' : 'http',
      ':path': path,
      ':authority': new URL(base).host,
      'sec-websocket-version': '13',
      'sec-websocket-protocol': 'chat.v2, chat.v1',
    });
    stream.on('response', (headers) => resolve({ stream, headers, read: reader(stream) }));
    stream.on('error', reject);
  });
}

async function main() {
  console.log(`INFO versions: node ${process.version}, ${tls ? 'TLS (ALPN h2)' : 'h2c (prior knowledge)'}`);
  const session = http2.connect(base, { rejectUnauthorized: false });
  session.on('error', (e) => report('session', false, String(e)));
  await new Promise((resolve) => session.once('remoteSettings', resolve));
  const enabled = session.remoteSettings.enableConnectProtocol === true;
  report('settings', enabled, `SETTINGS_ENABLE_CONNECT_PROTOCOL ${session.remoteSettings.enableConnectProtocol}` +
    (tls ? `, ALPN ${session.alpnProtocol}` : ''));
  if (!enabled) return session.close();

  // Three WebSockets at once on this one session.
  const sockets = await Promise.all(['/a', '/b', '/c'].map((path) => open(session, path)));
  const statuses = sockets.map((s) => s.headers[':status']);
  report('connect', statuses.every((s) => s === 200) && sockets.every((s) => !s.headers['sec-websocket-accept']),
    `statuses ${statuses.join(',')}, protocol ${sockets[0].headers['sec-websocket-protocol']}`);
  report('subprotocol', sockets.every((s) => s.headers['sec-websocket-protocol'] === 'chat.v2'),
    `got ${sockets[0].headers['sec-websocket-protocol']}`);

  const cases = [
    ['text', 1, Buffer.from('κόσμε 🎉 over HTTP/2')],
    ['binary.125', 2, crypto.randomBytes(125)],
    ['binary.65536', 2, crypto.randomBytes(65536)],
    ['binary.1048576', 2, crypto.randomBytes(1 << 20)],
  ];
  for (const [name, opcode, payload] of cases) {
    // The same message on every stream, interleaved, each echoed on its own.
    sockets.forEach((s) => s.stream.write(frame(opcode, payload)));
    const echoes = await Promise.all(sockets.map((s) => s.read.next(20000)));
    const ok = echoes.every((m) => m && m.opcode === opcode && m.payload.equals(payload));
    report(name, ok, ok ? `${payload.length} bytes on 3 streams` :
      `got ${echoes.map((m) => m ? `opcode ${m.opcode} ${m.payload.length} bytes` : 'end').join('; ')}`);
  }

  // RFC 6455 §5.5.1 then RFC 8441 §5: the close handshake, then END_STREAM.
  const reason = Buffer.from('bye ✓');
  const closePayload = Buffer.concat([Buffer.from([0x0f, 0xa0]), reason]); // 4000
  sockets.forEach((s) => s.stream.write(frame(8, closePayload)));
  const closes = await Promise.all(sockets.map((s) => s.read.next(20000)));
  const echoedClose = closes.every((m) => m && m.opcode === 8 && m.payload.equals(closePayload));
  sockets.forEach((s) => s.stream.end());
  const ends = await Promise.all(sockets.map((s) => s.read.next(20000)));
  report('close', echoedClose && ends.every((m) => m === null),
    `close replies ${closes.map((m) => m ? `${m.opcode}:${m.payload.readUInt16BE(0)}` : 'none').join(',')}; ` +
    `then ${ends.every((m) => m === null) ? 'END_STREAM' : 'more data'}`);
  session.close();
}

const timer = setTimeout(() => { report('run', false, 'no result within 60 s'); process.exit(1); }, 60000);
main()
  .catch((e) => report('run', false, String(e && e.stack ? e.stack : e)))
  .finally(() => { clearTimeout(timer); process.exit(failed ? 1 : 0); });
