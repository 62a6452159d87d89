// The interop checks, run by any client with a DOM-style WebSocket: the
// browser's own (chromium.html) or the `ws` package's (node_client.js).
//
//   runChecks(WebSocketCtor, url, report, options) -> Promise
//
// `report(check, ok, detail)` is called once per check. Check names are the
// ones scripts/interop.sh expects (see EXPECTED_CHECKS there).
(function (root) {
  'use strict';

  const SIZES = [0, 1, 125, 126, 127, 65535, 65536, 65537, 1 << 20];
  const PROTOCOLS = ['chat.v2', 'chat.v1'];
  const MULTIBYTE = 'κόσμε 🎉 \u{10ffff}';
  const CLOSE_CODE = 4000;
  const CLOSE_REASON = 'bye ✓';
  const SERVER_CLOSE_REQUEST = 'please close';
  const SERVER_CLOSE_CODE = 4001;
  const SERVER_CLOSE_REASON = 'server bye ✓';
  const UNIT = 'κόσμε 🎉 \u{10ffff} ';

  const encoder = new TextEncoder();
  const utf8Len = (s) => encoder.encode(s).length;

  // A string of exactly `n` UTF-8 bytes, mostly multibyte characters, padded
  // with ASCII. Same recipe in py_client.py and interop_client.rs.
  function makeText(n) {
    const unitLen = utf8Len(UNIT);
    const s = UNIT.repeat(Math.floor(n / unitLen));
    return s + 'x'.repeat(n - utf8Len(s));
  }

  // `n` bytes: byte i = (i * 31 + (i >> 8) + 7) mod 256.
  function makeBinary(n) {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = (i * 31 + (i >>> 8) + 7) & 0xff;
    return b;
  }

  function describeText(s) {
    return s.length > 40 ? `${utf8Len(s)} UTF-8 bytes` : JSON.stringify(s);
  }

  function firstDiff(a, b) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
    return n;
  }

  // Opens a socket and returns helpers to await its events in order.
  function open(WS, url, protocols, wsOptions, timeoutMs) {
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = wsOptions ? new WS(url, protocols, wsOptions) : new WS(url, protocols);
      } catch (e) {
        reject(e);
        return;
      }
      ws.binaryType = 'arraybuffer';
      const queue = [];
      let waiter = null;
      const push = (ev) => {
        if (waiter) {
          const w = waiter;
          waiter = null;
          w(ev);
        } else queue.push(ev);
      };
      const timer = setTimeout(() => reject(new Error(`no open within ${timeoutMs} ms`)), timeoutMs);
      ws.onopen = () => {
        clearTimeout(timer);
        resolve({ ws, next });
      };
      ws.onmessage = (e) => push({ type: 'message', data: e.data });
      ws.onerror = () => push({ type: 'error' });
      ws.onclose = (e) => {
        clearTimeout(timer);
        push({ type: 'close', code: e.code, reason: e.reason, wasClean: e.wasClean });
        reject(new Error(`closed before open: code ${e.code}`));
      };
      function next() {
        if (queue.length) return Promise.resolve(queue.shift());
        return new Promise((res) => {
          const t = setTimeout(() => {
            waiter = null;
            res({ type: 'timeout' });
          }, timeoutMs);
          waiter = (ev) => {
            clearTimeout(t);
            res(ev);
          };
        });
      }
    });
  }

  function describeEvent(ev) {
    if (ev.type === 'message') {
      return typeof ev.data === 'string' ? `text ${describeText(ev.data)}` : `binary ${ev.data.byteLength} bytes`;
    }
    if (ev.type === 'close') return `close ${ev.code} ${JSON.stringify(ev.reason)} wasClean=${ev.wasClean}`;
    return ev.type;
  }

  // Waits for the close event, skipping nothing: anything else is reported.
  async function expectClose(next, code, reason) {
    let ev = await next();
    if (ev.type === 'error') ev = await next(); // an error event is reported below via wasClean
    if (ev.type !== 'close') return [false, `expected close, got ${describeEvent(ev)}`];
    const ok = ev.code === code && ev.reason === reason && ev.wasClean === true;
    return [ok, `got ${describeEvent(ev)}, want close ${code} ${JSON.stringify(reason)} wasClean=true`];
  }

  async function runChecks(WS, url, report, options) {
    const opts = options || {};
    const timeoutMs = opts.timeoutMs || 20000;
    let conn;
    try {
      conn = await open(WS, url, PROTOCOLS, opts.wsOptions, timeoutMs);
    } catch (e) {
      report('connect', false, String(e && e.message ? e.message : e));
      return;
    }
    const { ws, next } = conn;
    report('subprotocol', ws.protocol === 'chat.v2', `got ${JSON.stringify(ws.protocol)}, want "chat.v2"`);
    // RFC 7692: every message below then travels compressed both ways.
    report('deflate', String(ws.extensions).startsWith('permessage-deflate'), `extensions ${JSON.stringify(ws.extensions)}`);

    const cases = [];
    for (const n of SIZES) cases.push([`text.${n}`, makeText(n)]);
    for (const n of SIZES) cases.push([`binary.${n}`, makeBinary(n)]);
    cases.push(['text.multibyte', MULTIBYTE]);

    for (const [name, payload] of cases) {
      ws.send(payload);
      const ev = await next();
      if (ev.type !== 'message') {
        report(name, false, `sent ${typeof payload === 'string' ? 'text' : 'binary'}, got ${describeEvent(ev)}`);
        if (ev.type === 'close' || ev.type === 'error' || ev.type === 'timeout') {
          report('close.client', false, 'connection already gone');
          return;
        }
        continue;
      }
      if (typeof payload === 'string') {
        if (typeof ev.data !== 'string') {
          report(name, false, `sent text ${describeText(payload)}, got ${describeEvent(ev)}`);
        } else if (ev.data !== payload) {
          report(name, false, `sent ${describeText(payload)}, got ${describeText(ev.data)}, first difference at UTF-16 index ${firstDiff(payload, ev.data)}`);
        } else report(name, true, describeText(payload));
      } else {
        if (typeof ev.data === 'string') {
          report(name, false, `sent binary ${payload.length} bytes, got ${describeEvent(ev)}`);
        } else {
          const got = new Uint8Array(ev.data);
          if (got.length !== payload.length || firstDiff(got, payload) !== payload.length) {
            report(name, false, `sent ${payload.length} bytes, got ${got.length} bytes, first difference at ${firstDiff(got, payload)}`);
          } else report(name, true, `${payload.length} bytes`);
        }
      }
    }

    ws.close(CLOSE_CODE, CLOSE_REASON);
    const [ok, detail] = await expectClose(next, CLOSE_CODE, CLOSE_REASON);
    report('close.client', ok, detail);

    if (opts.serverClose) {
      let c2;
      try {
        c2 = await open(WS, url, PROTOCOLS, opts.wsOptions, timeoutMs);
      } catch (e) {
        report('close.server', false, `connect: ${e && e.message ? e.message : e}`);
        return;
      }
      c2.ws.send(SERVER_CLOSE_REQUEST);
      const [ok2, detail2] = await expectClose(c2.next, SERVER_CLOSE_CODE, SERVER_CLOSE_REASON);
      report('close.server', ok2, detail2);
    }
  }

  // A command-line client (Node, Bun): runs the checks with `WS` against
  // argv[2] (`--server-close` adds close.server), prints PASS/FAIL lines
  // after an INFO line, and exits 1 on any failure.
  function runCli(WS, info, options) {
    const url = process.argv[2];
    let failed = false;
    const report = (check, ok, detail) => {
      if (!ok) failed = true;
      console.log(`${ok ? 'PASS' : 'FAIL'} ${check}${detail ? ': ' + detail : ''}`);
    };
    if (typeof WS !== 'function') {
      report('run', false, 'no WebSocket constructor');
      process.exit(1);
    }
    console.log(`INFO versions: ${info}`);
    const opts = Object.assign({ serverClose: process.argv.includes('--server-close') }, options);
    return runChecks(WS, url, report, opts)
      .catch((e) => report('run', false, String(e && e.stack ? e.stack : e)))
      .finally(() => process.exit(failed ? 1 : 0));
  }

  // In a page served by browser_host.js: `report` shows each result in
  // `logEl` and posts it to /result (after an INFO line with the user
  // agent); `run(promise)` reports a throw, then posts /done once every
  // result is posted.
  function pageReporter(logEl) {
    let failed = false;
    const post = (path, body) =>
      fetch(path, { method: 'POST', headers: { 'Content-Type': 'text/plain;charset=utf-8' }, body }).catch(() => {});
    const pending = [post('/result', 'INFO user-agent: ' + navigator.userAgent)];
    const report = (check, ok, detail) => {
      if (!ok) failed = true;
      const line = `${ok ? 'PASS' : 'FAIL'} ${check}${detail ? ': ' + detail : ''}`;
      logEl.textContent += line + '\n';
      pending.push(post('/result', line));
    };
    const run = (promise) =>
      promise
        .catch((e) => report('run', false, String(e && e.stack ? e.stack : e)))
        .finally(async () => {
          await Promise.all(pending);
          document.title = failed ? 'interop: FAIL' : 'interop: PASS';
          await post('/done', failed ? 'FAIL' : 'PASS');
        });
    return { report, run };
  }

  const api = {
    runChecks, runCli, pageReporter, makeText, makeBinary, firstDiff, describeText, SIZES, PROTOCOLS, MULTIBYTE, CLOSE_CODE, CLOSE_REASON,
    SERVER_CLOSE_REQUEST, SERVER_CLOSE_CODE, SERVER_CLOSE_REASON,
  };
  if (typeof module === 'object' && module.exports) module.exports = api;
  else root.InteropChecks = api;
})(typeof globalThis !== 'undefined' ? globalThis : this);
