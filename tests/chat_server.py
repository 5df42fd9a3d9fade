"""A base for the local HTTP servers that stand in for an OpenAI-compatible chat endpoint in tests."""
from __future__ import annotations

from http.server import BaseHTTPRequestHandler


class ChatHandler(BaseHTTPRequestHandler):
    """Quiet request handler with a JSON reply helper; subclasses write `do_POST`."""

    def reply_json(self, data: bytes, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass
