"""Local servers that record what the notifier delivers: HTTP (webhooks) and a minimal SMTP.

Both listen on 127.0.0.1 on a random port, in a daemon thread. Also imported by bench/.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar


@dataclass
class CapturedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return json.loads(self.body)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        capture = self.server.capture
        if capture.delay:
            time.sleep(capture.delay)  # a slow endpoint keeps sends in flight
        with capture.lock:
            capture.requests.append(CapturedRequest("POST", self.path, dict(self.headers.items()), body))
            status = capture.status
        self.send_response(status)
        for name, value in capture.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    capture: CaptureServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client killed mid-request (the SIGKILL test) is expected, not news


class CaptureServer:
    """Records every POST; answers `status` (200 unless a test changes it) with `headers`."""

    def __init__(self) -> None:
        self.requests: list[CapturedRequest] = []
        self.lock = threading.Lock()
        self.status = 200
        self.headers: dict[str, str] = {}  # sent with every answer (a redirect's Location)
        self.delay = 0.0
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.capture = self
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> CaptureServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def snapshot(self) -> list[CapturedRequest]:
        with self.lock:
            return list(self.requests)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[CapturedRequest]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.requests) >= count:
                break
            time.sleep(0.02)
        return self.snapshot()


@dataclass
class CapturedMail:
    sender: str
    recipients: list[str]
    data: str


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for a client that sends one plain message: no AUTH, no TLS."""

    server: _SmtpServer
    replies: ClassVar[dict[str, str]] = {"HELO": "250 hello", "NOOP": "250 ok", "RSET": "250 ok"}

    def handle(self) -> None:
        self._reply("220 capture ESMTP")
        sender, recipients = "", list[str]()
        while line := self.rfile.readline():
            command = line.decode().strip()
            verb = command.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self._reply("250-capture\r\n250 8BITMIME")
            elif verb == "MAIL":
                sender, recipients = command.split(":", 1)[1].strip(" <>"), []
                self._reply("250 ok")
            elif verb == "RCPT":
                recipients.append(command.split(":", 1)[1].strip(" <>"))
                self._reply("250 ok")
            elif verb == "DATA":
                self._reply("354 go ahead")
                lines = []
                while (data := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
                    lines.append(data.decode())
                self.server.mails.append(CapturedMail(sender, recipients, "".join(lines)))
                self._reply("250 queued")
            elif verb == "QUIT":
                self._reply("221 bye")
                return
            else:
                self._reply(self.replies.get(verb, "502 not implemented"))

    def _reply(self, text: str) -> None:
        self.wfile.write(text.encode() + b"\r\n")


class _SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    mails: list[CapturedMail]


class SmtpCapture:
    def __init__(self) -> None:
        self._server = _SmtpServer(("127.0.0.1", 0), _SmtpHandler)
        self._server.mails = []
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def mails(self) -> list[CapturedMail]:
        return self._server.mails

    def __enter__(self) -> SmtpCapture:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class HangingServer:
    """Accepts every connection and never answers: an endpoint that hangs. Records how many
    connections it was ever sent (`connections`) and the most it held open at once (`most_open`)."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=256)
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self.connections = 0
        self.most_open = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> HangingServer:
        self._listener.settimeout(0.05)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._thread.join(5)
        self._listener.close()
        with self._lock:
            for connection in self._open:
                connection.close()

    def _accept(self) -> None:
        while not self._closing.is_set():
            with self._lock:  # a connection the client gave up on is no longer open
                still_open = [c for c in self._open if not _closed_by_peer(c)]
                for gone in set(self._open) - set(still_open):
                    gone.close()
                self._open = still_open
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            connection.setblocking(False)
            with self._lock:
                self._open.append(connection)
                self.connections += 1
                self.most_open = max(self.most_open, len(self._open))


def _closed_by_peer(connection: socket.socket) -> bool:
    try:
        return connection.recv(65536) == b""  # what the request sent is read and ignored
    except BlockingIOError:
        return False
    except OSError:
        return True


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on: connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
