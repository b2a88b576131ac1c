"""A webhook receiver on loopback for tests/api/webhooks.rs: it verifies every delivery with the
`standardwebhooks` library (PyPI), as a customer's receiver would, and remembers what came.

    python webhook_receiver.py            prints its port on the first line of stdout

Control (the test talks to it over HTTP):
    PUT /_secret   {"secret": "whsec_..."}: the endpoint's secret (deliveries before it fail)
    PUT /_mode     {"mode": M}: `ok` (200 with a small JSON body; a 204 must carry none), `fail` (500), `gone` (410), `hang` (answers after
                   30 s), `fail:N` (500 for the next N deliveries, then ok)
    GET /_received the deliveries so far, as JSON: [{"id", "timestamp", "verified", "error",
                   "body", "answered"}]
Every other POST is a delivery.
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

STATE = {"secret": None, "mode": "ok", "fails_left": 0, "received": []}
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _body(self):
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self, status, body=b""):
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        if body:
            self.send_header("content-type", "application/json")
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_PUT(self):
        body = json.loads(self._body() or b"{}")
        with LOCK:
            if self.path == "/_secret":
                STATE["secret"] = body["secret"]
            elif self.path == "/_mode":
                mode = body["mode"]
                if mode.startswith("fail:"):
                    STATE["mode"], STATE["fails_left"] = "ok", int(mode[5:])
                else:
                    STATE["mode"], STATE["fails_left"] = mode, 0
            else:
                return self._answer(404)
        self._answer(204)

    def do_GET(self):
        if self.path != "/_received":
            return self._answer(404)
        with LOCK:
            body = json.dumps(STATE["received"]).encode()
        self._answer(200, body)

    def do_POST(self):
        body = self._body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        with LOCK:
            secret, mode = STATE["secret"], STATE["mode"]
            if STATE["fails_left"] > 0:
                STATE["fails_left"] -= 1
                mode = "fail"
        verified, error = False, None
        if secret:
            try:
                Webhook(secret).verify(body, headers)
                verified = True
            except Exception as e:  # the library's verification error, or a malformed header
                error = f"{type(e).__name__}: {e}"
        else:
            error = "no secret set"
        if mode == "hang":
            time.sleep(30)
        status = {"ok": 200, "fail": 500, "gone": 410}.get(mode, 500) if verified else 400
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        with LOCK:
            STATE["received"].append({
                "id": headers.get("webhook-id"),
                "timestamp": headers.get("webhook-timestamp"),
                "signatures": headers.get("webhook-signature", "").count("v1,"),
                "verified": verified,
                "error": error,
                "body": parsed,
                "answered": status,
            })
        self._answer(status, b'{"seen":true}' if status < 300 else b'{"error":"no"}')


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
