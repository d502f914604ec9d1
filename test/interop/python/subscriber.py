"""Python `websockets` subscribers for the topics interop test.

Usage: subscriber.py URL COUNT
Opens three groups of clients with compression (default offer: the server keeps its context; offer
server_no_context_takeover; the same with server_max_window_bits=10), sends "ready" on each (the server
subscribes it then), reads COUNT messages on each and prints one JSON object:
{"clients": [{"group": ..., "extensions": ..., "messages": [...]}]}.
"""
import asyncio
import json
import sys

import websockets
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

GROUPS = {
    "takeover": dict(),
    "independent": dict(server_no_context_takeover=True),
    "independent-10": dict(server_no_context_takeover=True, server_max_window_bits=10),
}


async def client(url, group, count):
    factory = ClientPerMessageDeflateFactory(client_max_window_bits=True, **GROUPS[group])
    async with websockets.connect(url, extensions=[factory], compression=None, max_size=1 << 24) as ws:
        await ws.send("ready")
        messages = [await ws.recv() for _ in range(count)]
        return {"group": group, "extensions": ws.response_headers.get("Sec-WebSocket-Extensions"), "messages": messages}


async def main():
    url, count = sys.argv[1], int(sys.argv[2])
    jobs = [client(url, group, count) for group in GROUPS for _ in range(2)]
    print(json.dumps({"clients": await asyncio.wait_for(asyncio.gather(*jobs), 60)}))


asyncio.run(main())
