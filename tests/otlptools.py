"""An OTLP/HTTP receiver on loopback for the tests, decoded with opentelemetry-proto.

It answers the ``statuses`` queued on it in turn (then ``default_status``,
200 unless changed) and keeps the bodies it accepted, so a test can play a
collector that is healthy, rejecting, or flapping. ``HangingServer`` plays one
that accepts connections and never answers.
"""

from __future__ import annotations

import gzip
import http.server
import socket
import threading
from typing import Any

__all__ = ["HangingServer", "OtlpHttpReceiver"]


class OtlpHttpReceiver:
    """OTLP/HTTP on 127.0.0.1; ``endpoint`` is its base URL. Close it after use."""

    def __init__(self, statuses: tuple[int, ...] = ()) -> None:
        self.bodies: list[tuple[str, bytes]] = []
        self.rejected: list[str] = []
        self.statuses = list(statuses)
        self.default_status = 200
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":  # OTEL_..._COMPRESSION
                    body = gzip.decompress(body)
                status = receiver.statuses.pop(0) if receiver.statuses else (
                    receiver.default_status)
                if status == 200:
                    receiver.bodies.append((self.path, body))
                else:
                    receiver.rejected.append(self.path)
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def requests(self, path: str) -> list[Any]:
        """The accepted requests sent to ``path`` (``/v1/metrics`` or ``/v1/logs``), decoded."""
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
            ExportLogsServiceRequest,
        )
        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
            ExportMetricsServiceRequest,
        )

        kind = ExportLogsServiceRequest if path == "/v1/logs" else ExportMetricsServiceRequest
        return [kind.FromString(body) for got, body in self.bodies if got == path]

    def metrics(self) -> list[Any]:
        return self.requests("/v1/metrics")

    def decoded(self, path: str) -> str:
        """The bodies sent to ``path`` as protobuf text, and the raw bytes too."""
        from google.protobuf import text_format

        parts = []
        for request, (_, body) in zip(
            self.requests(path), [b for b in self.bodies if b[0] == path], strict=True
        ):
            parts.append(text_format.MessageToString(request, as_utf8=True))
            parts.append(body.decode("utf-8", "replace"))
        return "\n".join(parts)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class HangingServer:
    """A loopback port that accepts connections and never answers (a collector stuck
    behind a proxy). ``port`` and ``endpoint`` name it; close it after use."""

    def __init__(self) -> None:
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(16)
        self._server.settimeout(0.1)
        self.port: int = self._server.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                continue
            self._held.append(conn)

    def close(self) -> None:
        # The accept loop ends first: a connection it took after the held ones
        # were closed would be left open (a ResourceWarning in a later test).
        self._stop.set()
        self._thread.join(5)
        for conn in self._held:
            conn.close()
        self._server.close()
