"""The status page served by the standard library alone, for a process without a
web server (a batch scorer, a queue consumer): ``serve(port=9100)``."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from .._monitor import Monitor
from ._app import StatusApp


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        url = urlsplit(self.path)
        headers = {k.lower().encode("latin-1"): v.encode("latin-1")
                   for k, v in self.headers.items()}
        response = self.server.app.respond(self.command, url.path,
                                           url.query.encode("latin-1"), headers)
        self.send_response(response.status)
        if self.command not in ("GET", "HEAD"):
            # A body we never read would be taken for the next request: close instead.
            self.close_connection = True
            self.send_header("Connection", "close")
        for name, value in response.headers:
            self.send_header(name.decode("latin-1"), value.decode("latin-1"))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # no access log: the page is polled


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    app: StatusApp


def serve(
    monitor: Monitor | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 9100,
    token: str | None = None,
    background: bool = False,
    **options: Any,
) -> ThreadingHTTPServer:
    """Serve the status page at ``http://host:port/inferwatch`` (and ``/inferwatch/status``).

    With ``background=True`` it runs on a daemon thread and returns the
    server at once (``server.shutdown()`` stops it; ``server.server_address``
    has the port when ``port=0``); otherwise it serves until interrupted.
    ``options`` are :class:`StatusApp`'s (``drift``, ``refresh``, ``title``).

    ::

        inferwatch.status.serve(port=9100, token=os.environ["TOKEN"], background=True)
    """
    server = _Server((host, port), _Handler)
    server.app = StatusApp(monitor, token, **options)
    if background:
        threading.Thread(target=server.serve_forever, name="inferwatch-status",
                         daemon=True).start()
        return server
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return server
