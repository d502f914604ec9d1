"""Python `websockets` (10.x legacy asyncio API) client for interop tests.

Usage: client.py URL [--compression on|off]
Runs a fixed scenario against an echo server (which also obeys "close:CODE:REASON" commands) and prints
one JSON object with what it observed; the jest side asserts on it.
"""
import asyncio
import hashlib
import json
import struct
import sys

import websockets

SIZES = [0, 1, 125, 126, 127, 65535, 65536, 1 << 20, 16 << 20]
MAX = 64 << 20


def digest(data):
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha1(data).hexdigest()


async def connect(url, compression, **kwargs):
    return await websockets.connect(
        url,
        compression="deflate" if compression else None,
        max_size=MAX,
        subprotocols=["chat", "superchat"],
        **kwargs,
    )


async def main():
    url = sys.argv[1]
    compression = "--compression" not in sys.argv or sys.argv[sys.argv.index("--compression") + 1] == "on"
    out = {"echo": [], "closes": {}}
    ws = await connect(url, compression)
    out["subprotocol"] = ws.subprotocol
    out["extensions"] = ws.response_headers.get("Sec-WebSocket-Extensions")
    for size in SIZES:
        text = ("abcdefghij" * (size // 10 + 1))[:size]
        data = bytes((i * 31 + 7) & 0xFF for i in range(size)) if size <= 65536 else b"\x5a" * size
        for sent in (text, data):
            await ws.send(sent)
            got = await ws.recv()
            out["echo"].append({"kind": type(sent).__name__, "size": size, "same": type(got) is type(sent) and got == sent})
    # Fragmented input: iterables are sent as one fragmented message.
    await ws.send(["frag", "men", "ted"])
    out["fragmentedText"] = await ws.recv()
    await ws.send([b"\x01", b"", b"\x02\x03"])
    out["fragmentedBinary"] = (await ws.recv()).hex()
    pong = await ws.ping(b"interop")
    await asyncio.wait_for(pong, 5)
    out["pong"] = True
    await ws.close(1000, "done")
    out["closes"]["1000"] = [ws.close_code, ws.close_reason]

    # Client-initiated closes, valid classes: the server echoes the code.
    for code in (1001, 1003, 1008, 1011, 3000, 4999):
        ws = await connect(url, compression)
        await ws.close(code, "py")
        out["closes"][str(code)] = [ws.close_code, ws.close_reason]
    # Invalid codes on the wire (websockets refuses to send them, so write the frame ourselves):
    # the server must fail the connection with 1002.
    for code in (999, 1004, 1005, 1006, 1015, 2999, 5000):
        ws = await connect(url, compression)
        await ws.write_frame(True, 0x8, struct.pack("!H", code))
        try:
            await asyncio.wait_for(ws.recv(), 5)
        except websockets.ConnectionClosed:
            pass
        out["closes"][str(code)] = [ws.close_code, ws.close_reason]
    # Server-initiated closes, on command.
    out["serverCloses"] = {}
    for code in (1000, 1001, 1011, 3001, 4000):
        ws = await connect(url, compression)
        await ws.send(f"close:{code}:server says {code}")
        try:
            await asyncio.wait_for(ws.recv(), 5)
        except websockets.ConnectionClosed:
            pass
        await ws.wait_closed()
        out["serverCloses"][str(code)] = [ws.close_code, ws.close_reason]
    print(json.dumps(out))


asyncio.run(main())
