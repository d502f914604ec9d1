"""Python `websockets` (10.x legacy asyncio API) echo server for interop tests.

Usage: server.py [--compression on|off]
Listens on 127.0.0.1, an ephemeral port; prints "READY <port>". Echoes every message with its type;
a text message "close:CODE:REASON" makes it close with that code and reason. Prints
"CLOSED <code> <reason>" as each connection ends, "PROTOCOL <subprotocol>" as each one opens.
"""
import asyncio
import sys

import websockets


async def handler(ws, path=None):
    print(f"PROTOCOL {ws.subprotocol}", flush=True)
    try:
        async for message in ws:
            if isinstance(message, str) and message.startswith("close:"):
                _, code, reason = message.split(":", 2)
                await ws.close(int(code), reason)
                break
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass
    await ws.wait_closed()
    print(f"CLOSED {ws.close_code} {ws.close_reason}", flush=True)


async def main():
    compression = "--compression" not in sys.argv or sys.argv[sys.argv.index("--compression") + 1] == "on"
    server = await websockets.serve(
        handler,
        "127.0.0.1",
        0,
        compression="deflate" if compression else None,
        max_size=64 << 20,
        subprotocols=["chat"],
    )
    port = server.sockets[0].getsockname()[1]
    print(f"READY {port}", flush=True)
    await asyncio.Future()


asyncio.run(main())
