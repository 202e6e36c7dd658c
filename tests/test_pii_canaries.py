"""PII canaries: personal data sent in through every input, searched for in every output.

Each input gets canaries of its own (an email, an email with a 70-character
local part, an internationalised one, a phone number, a user id, all tagged
with the input's name), so a leak names both where it went in and where it
came out. Three applications are run, each with three log sinks:

- a decorated predict: features (named PII fields and free text), per-call
  attributes (named and free text), a caller-supplied inference id, and
  exception messages;
- a FastAPI app behind the middleware: the request id, every other header,
  path parameters, mounted path parameters, an unmatched path, query
  strings, JSON bodies, and an exception from the route;
- a gRPC server behind the interceptor: the request id and other metadata,
  request bodies and a servicer's exception.

Outputs searched: the log sink (stdout, a log file, or OTLP log payloads sent
to a loopback OTLP/HTTP receiver and decoded), OTLP metric payloads (the same
receiver, decoded), metric points and their attributes (``Monitor.collect()``),
the status summary (``Monitor.summary()``), stderr and everything logged through
``logging`` while the application ran and, for the FastAPI app, the status
route. Every form a value could take is searched for: as sent, lower-cased,
percent-encoded, JSON-escaped, and an email's local part alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import json
import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import quote, quote_plus

import pytest
from otlptools import OtlpHttpReceiver

import inferwatch

pytestmark = pytest.mark.network

KEY = "hex:" + "5a" * 32
SINKS = ("stdout", "file", "otlp")
TIMEOUT = 10.0


# -- the canaries ------------------------------------------------------------------


def email(tag: str) -> str:
    return f"canary.{tag}@example.org"


def long_email(tag: str) -> str:
    return "l" * 60 + f".{tag}@example.org"  # a local part over 64 characters


def idn_email(tag: str) -> str:
    return f"josé.{tag}@bücher-beispiel.de"


def phone(tag: str) -> str:
    return f"+44 20 7946 {1000 + ALL_INPUTS.index(tag):04d}"


def user(tag: str) -> str:
    return f"canary-user-{tag}-90210"


def ascii_values(tag: str) -> list[str]:
    return [email(tag), long_email(tag), phone(tag), user(tag)]


def forms(tag: str) -> list[str]:
    """Every text form the canaries of ``tag`` could leak in."""
    out: list[str] = []
    for value in (email(tag), long_email(tag), idn_email(tag), user(tag)):
        out += [value, value.lower(), quote(value, safe=""), quote_plus(value),
                json.dumps(value)[1:-1]]
    for address in (email(tag), long_email(tag), idn_email(tag)):
        local = address.split("@")[0]
        out += [local, json.dumps(local)[1:-1]]
    digits = phone(tag).replace(" ", "")
    out += [phone(tag), quote(phone(tag)), quote_plus(phone(tag)), digits, digits[1:],
            phone(tag)[-9:], phone(tag)[-9:].replace(" ", "")]
    return sorted(set(out))


def leaks(tag: str, text: str) -> list[str]:
    return [form for form in forms(tag) if form in text]


# -- the outputs -------------------------------------------------------------------


OtlpReceiver = OtlpHttpReceiver  # every body kept, decoded for the search


@contextlib.contextmanager
def _logged_to(handler: logging.Handler) -> Iterator[None]:
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


def _without_grpcs_own_reports(text: str) -> str:
    """``text`` less what grpc reports itself for a servicer's exception.

    grpc logs "Exception calling application: ..." and, in older releases
    (1.60), prints the traceback to stderr from its own thread: the server's
    own output, which inferwatch neither writes nor can scrub. A traceback
    block is dropped when it went through ``grpc/_server.py``.
    """
    kept: list[str] = []
    block: list[str] = []
    for line in text.splitlines():
        if "Exception calling application" in line:
            continue
        if line.startswith("Traceback (most recent call last)") or (
            block and (line.startswith((" ", "During handling", "The above")) or not line.strip())
        ):
            block.append(line)
            continue
        if block:  # the traceback's last line, "SomeError: message"
            block.append(line)
            if not any("grpc/_server.py" in frame for frame in block):
                kept.extend(block)
            block = []
            continue
        kept.append(line)
    kept.extend(block)
    return "\n".join(kept)


def outputs(
    run: Callable[[inferwatch.Monitor], dict[str, str]], sink: str, tmp: Path
) -> dict[str, str]:
    """Run an application against a fresh monitor; every output channel as text."""
    receiver = OtlpReceiver()
    log_file = tmp / f"{sink}.jsonl"
    stdout = io.StringIO()
    stderr = io.StringIO()
    handler = logging.StreamHandler(stderr)  # what inferwatch and OTel log
    handler.setLevel(logging.DEBUG)
    # grpc logs a servicer's exception itself ("Exception calling application"):
    # the server's own log, which inferwatch neither writes nor can scrub.
    handler.addFilter(lambda record: not record.name.startswith("grpc"))
    options: dict[str, Any] = dict(
        environ={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                 "OTEL_SERVICE_NAME": "canary-svc"},
        metrics_exporter="otlp", sample_rate=1.0, feature_sample_rate=1.0,
        slow_threshold_ms=None, max_records_per_second=1e6,
        # The request id counts as PII here: an id a client chose can be anything.
        pii_fields=["user_id", "email", "phone", "x-request-id", "inference.id"],
        pii_detectors=["email", "phone"],
        pii_key=KEY, log_sink=sink,
    )
    if sink == "file":
        options["log_file"] = str(log_file)
    # The OTLP log sink built for log_sink="otlp" reads the process
    # environment, not environ=: point both at the receiver.
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr), \
                mock.patch.dict(os.environ, options["environ"]), _logged_to(handler):
            mon = inferwatch.Monitor(**options)
            try:
                extra = run(mon)
                assert mon.flush(timeout=TIMEOUT, export=True)
                points = mon.collect()
                summary = mon.summary()
            finally:
                mon.shutdown(timeout=TIMEOUT)
    finally:
        receiver.close()
    out = {
        "otlp metrics": receiver.decoded("/v1/metrics"),
        "metric points": repr(points) + json.dumps(
            [[p.name, p.attributes] for p in points], default=str, ensure_ascii=False),
        "summary": json.dumps(summary, default=str, ensure_ascii=False),
        "stderr and logging": _without_grpcs_own_reports(stderr.getvalue()),
        "sink": {"stdout": stdout.getvalue(),
                 "file": log_file.read_text() if log_file.exists() else "",
                 "otlp": receiver.decoded("/v1/logs")}[sink],
    }
    assert out["sink"].strip(), f"no log records reached the {sink} sink"
    assert out["otlp metrics"].strip(), "no metrics reached the OTLP receiver"
    out.update(extra)
    return out


# -- a decorated predict -------------------------------------------------------------

DECORATOR_INPUTS = ("featfield", "featnote", "attrfield", "attrnote", "attrcut", "attrnested",
                    "callid", "exc", "prediction")


def run_decorator(mon: inferwatch.Monitor) -> dict[str, str]:
    @inferwatch.monitor(model="canary-model", monitor=mon,
                        features=lambda req: req["features"],
                        inference_id=lambda req: req.get("id"))
    def predict(req: dict[str, Any]) -> float | str:
        record = inferwatch.current_record()
        assert record is not None
        record.attributes = {
            "user_id": user("attrfield"), "email": email("attrfield"), "phone": phone("attrfield"),
            "contact": f"reach {email('attrnote')} or {phone('attrnote')}",
            "contact_long": f"reach {long_email('attrnote')}",
            "contact_idn": f"reach {idn_email('attrnote')}",
            # An address across the point where a long value is cut.
            "history": "x" * 240 + f" {email('attrcut')} " + "y" * 40,
            # A PII field inside a structured value.
            "meta": {"user_id": user("attrnested"), "tier": "gold"},
        }
        if req.get("fail"):
            raise ValueError(
                f"cannot score {email('exc')} ({long_email('exc')}, {idn_email('exc')}), "
                f"tel {phone('exc')}, user_id={user('exc')}"
            )
        if req.get("text"):  # a text model's answer: its class label is the text
            return f"reply to {email('prediction')} or {phone('prediction')}"
        return 0.5

    features = {
        "user_id": user("featfield"), "email": email("featfield"), "phone": phone("featfield"),
        "note": f"{email('featnote')} / {long_email('featnote')} / {idn_email('featnote')} "
                f"/ {phone('featnote')}",
        "age": 41,
    }
    for fail in (False, True):
        with contextlib.suppress(ValueError):
            predict({"features": features, "id": user("callid"), "fail": fail})
    predict({"features": {"x": 1}, "text": True})
    return {}


# -- a FastAPI app -------------------------------------------------------------------

HEADERS = ("user-agent", "authorization", "cookie", "referer", "x-forwarded-for",
           "x-user-email", "x-api-key")
ASGI_INPUTS = ("reqidtext", "reqidmail", "path", "mount", "unmatched", "query", "body", "appexc",
               "hdruseridn", *(f"hdr{name.replace('-', '')}" for name in HEADERS))


def _header_value(name: str) -> str:
    tag = f"hdr{name.replace('-', '')}"
    return f"{email(tag)} {long_email(tag)} {phone(tag)} {user(tag)}"


def run_asgi(mon: inferwatch.Monitor) -> dict[str, str]:
    import httpx
    from fastapi import FastAPI
    from inferwatch_fastapi import STATUS_PATH, instrument_app
    from starlette.routing import Mount, Route

    from inferwatch.asgi import Capture

    @inferwatch.monitor(model="canary-model", monitor=mon)
    def predict(x: Any) -> float:
        return 0.5

    app = FastAPI()

    @app.post("/predict/{who}")
    async def predict_route(who: str, body: dict[str, Any]) -> dict[str, float]:
        return {"y": predict(body["features"])}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError(
            f"failed for {email('appexc')} ({long_email('appexc')}, {idn_email('appexc')}) "
            f"tel {phone('appexc')} user_id={user('appexc')}"
        )

    async def item(request: Any) -> Any:
        from starlette.responses import JSONResponse

        return JSONResponse({"y": predict([1.0])})

    app.router.routes.append(Mount("/t/{tenant}", routes=[Route("/items/{item}", item)]))
    instrument_app(
        app, status_routes=True, monitor=mon, model="canary-model",
        capture={"/predict/{who}": Capture(features=lambda body: body["features"])},
    )

    headers: dict[str, Any] = {name: _header_value(name) for name in HEADERS}
    # Header values are bytes: an internationalised address arrives as UTF-8.
    headers["x-user-idn"] = f"{idn_email('hdruseridn')} {user('hdruseridn')}".encode()
    body = {"features": {
        "user_id": user("body"), "email": email("body"), "phone": phone("body"),
        "note": f"{email('body')} / {long_email('body')} / {idn_email('body')} / {phone('body')}",
        "x": 1.0,
    }}

    async def client() -> str:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            r = await c.post(f"/predict/{quote(user('path'))}", json=body,
                             headers={**headers, "x-request-id": user("reqidtext")})
            assert r.status_code == 200, r.text
            r = await c.post(f"/predict/{quote(email('path'))}", json=body,
                             headers={"x-request-id": email("reqidmail")})
            assert r.status_code == 200, r.text
            query = (f"email={quote_plus(email('query'))}&phone={quote_plus(phone('query'))}"
                     f"&user_id={user('query')}&note={quote_plus(idn_email('query'))}")
            r = await c.post(f"/predict/x?{query}", json=body)
            assert r.status_code == 200, r.text
            r = await c.get(f"/t/{quote(email('mount'))}/items/{user('mount')}")
            assert r.status_code == 200, r.text
            r = await c.get(f"/t/{user('mount')}/items/{quote(idn_email('mount'))}")
            assert r.status_code == 200, r.text
            r = await c.get(f"/nowhere/{quote(email('unmatched'))}/{user('unmatched')}")
            assert r.status_code == 404
            r = await c.get("/boom")
            assert r.status_code == 500
            await asyncio.sleep(0)
            assert mon.flush(timeout=TIMEOUT)
            status = await c.get(STATUS_PATH)
            assert status.status_code == 200
            return status.text

    return {"status route": asyncio.run(client())}


# -- a gRPC server ------------------------------------------------------------------

GRPC_INPUTS = ("grpcreqid", "grpcmeta", "grpcbody", "grpcexc", "grpcabort")
ALL_INPUTS = (*DECORATOR_INPUTS, *ASGI_INPUTS, *GRPC_INPUTS, "t", "u")


def run_grpc(mon: inferwatch.Monitor) -> dict[str, str]:
    import grpc
    from inferwatch_grpc import InferenceInterceptor

    @inferwatch.monitor(model="canary-grpc", monitor=mon, features=lambda req: req["features"])
    def predict(req: dict[str, Any]) -> float:
        if req.get("fail"):
            raise RuntimeError(
                f"failed for {email('grpcexc')} ({long_email('grpcexc')}, "
                f"{idn_email('grpcexc')}) tel {phone('grpcexc')} user_id={user('grpcexc')}"
            )
        return 0.5

    def handle(request: bytes, context: Any) -> bytes:
        req = json.loads(request)
        if req.get("abort"):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"no account for {email('grpcabort')} / {phone('grpcabort')} / "
                          f"user_id={user('grpcabort')}")
        return json.dumps({"y": predict(req)}).encode()

    handler = grpc.method_handlers_generic_handler(
        "canary.Model", {"Predict": grpc.unary_unary_rpc_method_handler(handle)})
    server = grpc.server(ThreadPoolExecutor(max_workers=2),
                         interceptors=[InferenceInterceptor(monitor=mon, model="canary-grpc")])
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    features = {
        "user_id": user("grpcbody"), "email": email("grpcbody"), "phone": phone("grpcbody"),
        "note": f"{email('grpcbody')} / {long_email('grpcbody')} / {idn_email('grpcbody')}",
    }
    metadata = [
        ("x-request-id", user("grpcreqid")),
        ("x-user-email", email("grpcmeta")),
        ("authorization", f"Bearer {user('grpcmeta')}"),
        ("x-phone", phone("grpcmeta")),
        ("x-note", long_email("grpcmeta")),
        ("x-user-bin", f"{idn_email('grpcmeta')} {user('grpcmeta')}".encode()),
    ]
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary("/canary.Model/Predict")
            call(json.dumps({"features": features}).encode(), metadata=metadata,
                 timeout=TIMEOUT)
            for failing in ({"fail": True}, {"abort": True}):
                with pytest.raises(grpc.RpcError):
                    call(json.dumps({"features": features, **failing}).encode(),
                         metadata=metadata, timeout=TIMEOUT)
    finally:
        server.stop(None).wait(TIMEOUT)
    return {}


# -- the checks ---------------------------------------------------------------------

APPS: dict[str, tuple[Callable[[inferwatch.Monitor], dict[str, str]], tuple[str, ...]]] = {
    "decorator": (run_decorator, DECORATOR_INPUTS),
    "asgi": (run_asgi, ASGI_INPUTS),
    "grpc": (run_grpc, GRPC_INPUTS),
}


@functools.cache
def _outputs_cached(app: str, sink: str, tmp: str) -> dict[str, str]:
    return outputs(APPS[app][0], sink, Path(tmp))


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("canaries")
    _outputs_cached.cache_clear()


def find_leaks(app: str, sink: str, tag: str, tmp: Path) -> dict[str, list[str]]:
    """Channel -> the forms of ``tag``'s canaries found in it."""
    found = {}
    for channel, text in _outputs_cached(app, sink, str(tmp / f"{app}-{sink}")).items():
        hits = leaks(tag, text)
        if hits:
            found[channel] = hits
    return found


#: What each application needs beyond the core (the oldest-versions run has none of it).
NEEDS = {"asgi": ("fastapi", "inferwatch_fastapi"), "grpc": ("grpc", "inferwatch_grpc")}

@pytest.mark.parametrize("sink", SINKS)
@pytest.mark.parametrize(
    ("app", "tag"), [(app, tag) for app, (_, tags) in APPS.items() for tag in tags]
)
def test_no_canary_reaches_any_output(app: str, tag: str, sink: str, module_tmp: Path) -> None:
    for module in NEEDS.get(app, ()):
        pytest.importorskip(module)
    (module_tmp / f"{app}-{sink}").mkdir(exist_ok=True)
    assert find_leaks(app, sink, tag, module_tmp) == {}


def test_the_canary_forms_would_be_found() -> None:
    # The search is not vacuous: each kind of canary is found where it is.
    for value in (email("t"), long_email("t"), idn_email("t"), phone("t"), user("t")):
        assert leaks("t", f"x {value} y")
        assert leaks("t", json.dumps({"v": value}))
        assert leaks("t", quote_plus(value))
    assert leaks("t", "canary.t")  # a local part alone counts
    assert not leaks("t", "canary.u@example.org " + user("u"))
