"""A JSON-over-HTTP server on 127.0.0.1, for tests that talk to a web API (the OpenAI-compatible judge)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Mapping

Responder = Callable[[str, Mapping[str, str], dict], tuple]  # (path, headers, JSON body) -> (status, JSON[, headers])


class JsonServer:
    """Answers every POST (and GET, body {}) with `respond` from a background thread until closed; `base_url` is OpenAI-style."""

    def __init__(self, respond: Responder):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # what a POST becomes after a 302/303 redirect
                self.do_POST()

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else {}
                status, payload, *extra = respond(self.path, self.headers, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                for name, value in (extra[0] if extra else {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
