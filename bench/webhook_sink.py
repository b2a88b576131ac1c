#!/usr/bin/env python3
"""A fast webhook receiver for scripts/bench-webhooks (asyncio, HTTP/1.1 keep-alive).

  webhook_sink.py MODE SECRET     prints its port, then serves until killed

MODE: `ok` answers 204 to every delivery; `hang` reads the request and never answers (a receiver
that is down but accepts connections). With `ok`, every delivery's Standard Webhooks signature
is checked (HMAC-SHA256 over "id.timestamp.body" with the secret's bytes, as the specification
and the `standardwebhooks` library do) and the arrival recorded.
`GET /_stats` answers {"received", "bad_signatures", "lags_ms": [...]} (lag: arrival minus the
body's `timestamp`, the event's commit time).
"""

import asyncio
import base64
import hashlib
import hmac
import json
import sys
import time
from datetime import datetime

STATS = {"received": 0, "bad_signatures": 0, "lags_ms": []}


def verify(key, headers, body):
    msg_id, ts = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(mac).decode()
    return any(hmac.compare_digest(expected, s) for s in headers.get("webhook-signature", "").split())


async def handle(reader, writer, mode, key):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path = lines[0].split(" ")[:2]
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            if method == "GET" and path == "/_stats":
                out = json.dumps(STATS).encode()
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(out) + out)
                await writer.drain()
                continue
            if mode == "hang":
                await asyncio.sleep(3600)
                return
            STATS["received"] += 1
            if not verify(key, headers, body):
                STATS["bad_signatures"] += 1
            try:
                at = json.loads(body)["timestamp"].replace("Z", "+00:00")
                STATS["lags_ms"].append((time.time() - datetime.fromisoformat(at).timestamp()) * 1000)
            except (ValueError, KeyError):
                pass
            writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main():
    mode, secret = sys.argv[1], sys.argv[2]
    key = base64.b64decode(secret.removeprefix("whsec_")) if secret != "-" else b""
    server = await asyncio.start_server(lambda r, w: handle(r, w, mode, key), "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
