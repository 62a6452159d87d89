"""Python `websockets` client: the checks of checks.js, printed as PASS/FAIL lines.

    python py_client.py ws://127.0.0.1:PORT/path [--server-close]
"""

import asyncio
import sys

import websockets
from websockets.asyncio.client import connect

SIZES = [0, 1, 125, 126, 127, 65535, 65536, 65537, 1 << 20]
PROTOCOLS = ["chat.v2", "chat.v1"]
MULTIBYTE = "κόσμε 🎉 \U0010ffff"
UNIT = "κόσμε 🎉 \U0010ffff "
TIMEOUT = 20

failed = False


def report(check, ok, detail=""):
    global failed
    failed |= not ok
    print(f"{'PASS' if ok else 'FAIL'} {check}{': ' + detail if detail else ''}", flush=True)


def make_text(n):
    """A str of exactly n UTF-8 bytes, mostly multibyte (same recipe as checks.js)."""
    s = UNIT * (n // len(UNIT.encode()))
    return s + "x" * (n - len(s.encode()))


def make_binary(n):
    return bytes((i * 31 + (i >> 8) + 7) & 0xFF for i in range(n))


def describe(data):
    if isinstance(data, str):
        return f"text {len(data.encode())} UTF-8 bytes" if len(data) > 40 else f"text {data!r}"
    return f"binary {len(data)} bytes"


def first_diff(a, b):
    n = min(len(a), len(b))
    return next((i for i in range(n) if a[i] != b[i]), n)


def close_outcome(ws, code, reason):
    rcvd, sent = ws.protocol.close_rcvd, ws.protocol.close_sent
    clean = rcvd is not None and sent is not None
    got = f"close {rcvd.code} {rcvd.reason!r} wasClean={clean}" if rcvd else f"no close frame (wasClean={clean})"
    ok = rcvd is not None and rcvd.code == code and rcvd.reason == reason and clean
    return ok, f"got {got}, want close {code} {reason!r} wasClean=True"


async def run(url, server_close):
    kw = dict(subprotocols=PROTOCOLS, max_size=64 << 20, open_timeout=TIMEOUT, close_timeout=TIMEOUT)
    try:
        ws = await connect(url, **kw)
    except Exception as e:  # noqa: BLE001
        report("connect", False, repr(e))
        return
    report("subprotocol", ws.subprotocol == "chat.v2", f'got {ws.subprotocol!r}, want "chat.v2"')
    extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
    report("deflate", extensions.startswith("permessage-deflate"), f"extensions {extensions!r}")
    cases = [(f"text.{n}", make_text(n)) for n in SIZES]
    cases += [(f"binary.{n}", make_binary(n)) for n in SIZES]
    cases.append(("text.multibyte", MULTIBYTE))
    for name, payload in cases:
        try:
            await ws.send(payload)
            got = await asyncio.wait_for(ws.recv(), TIMEOUT)
        except Exception as e:  # noqa: BLE001
            report(name, False, f"sent {describe(payload)}, got {e!r}")
            report("close.client", False, "connection already gone")
            return
        if type(got) is not type(payload):
            report(name, False, f"sent {describe(payload)}, got {describe(got)}")
        elif got != payload:
            report(name, False, f"sent {describe(payload)}, got {describe(got)}, first difference at {first_diff(payload, got)}")
        else:
            report(name, True, describe(payload))
    await ws.close(4000, "bye ✓")
    report("close.client", *close_outcome(ws, 4000, "bye ✓"))

    if server_close:
        try:
            ws = await connect(url, **kw)
            await ws.send("please close")
            try:
                got = await asyncio.wait_for(ws.recv(), TIMEOUT)
                report("close.server", False, f"expected close, got {describe(got)}")
                return
            except websockets.ConnectionClosed:
                pass
            await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
        except Exception as e:  # noqa: BLE001
            report("close.server", False, repr(e))
            return
        report("close.server", *close_outcome(ws, 4001, "server bye ✓"))


def main():
    url = sys.argv[1]
    print(f"INFO versions: python {sys.version.split()[0]}, websockets {websockets.__version__}", flush=True)
    try:
        asyncio.run(run(url, "--server-close" in sys.argv[2:]))
    except Exception as e:  # noqa: BLE001
        report("run", False, repr(e))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
