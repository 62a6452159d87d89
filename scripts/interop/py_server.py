"""Python `websockets` echo server for our client: echoes text and binary, picks
the first offered subprotocol, echoes the close frame (websockets does), and on
the text "please close" closes with 4001 "server bye ✓".

    python py_server.py PORT
"""

import asyncio
import signal
import sys

import websockets
from websockets.asyncio.server import serve


def select_subprotocol(connection, subprotocols):
    return subprotocols[0] if subprotocols else None


async def echo(ws):
    peer = ws.remote_address[1] if ws.remote_address else "?"
    try:
        async for message in ws:
            if message == "please close":
                await ws.close(4001, "server bye ✓")
                break
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass
    rcvd = ws.protocol.close_rcvd
    print(f"{peer}: closed {rcvd.code if rcvd else None} {rcvd.reason if rcvd else ''!r}", flush=True)


async def main():
    port = int(sys.argv[1])
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    async with serve(echo, "127.0.0.1", port, select_subprotocol=select_subprotocol, max_size=64 << 20):
        print(f"python websockets {websockets.__version__} echo server on ws://127.0.0.1:{port}", flush=True)
        await stop


if __name__ == "__main__":
    asyncio.run(main())
