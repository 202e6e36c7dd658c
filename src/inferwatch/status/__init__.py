"""The status page: one page that says what is wrong, in order, without a Grafana.

::

    from inferwatch.status import StatusApp
    app.mount("/inferwatch", StatusApp(token=os.environ["INFERWATCH_STATUS_TOKEN"]))

or, with FastAPI, ``instrument_app(app, status_routes=True)``; in a process
without a web server, ``inferwatch serve-status --port 9100`` or
:func:`serve`. ``GET /inferwatch`` is the page (HTML with inline SVG: no
script, nothing fetched), ``GET /inferwatch/status`` the same document as
JSON (:func:`build_status`).

Modules, one job each: ``_document`` builds the status document,
``_drift`` its drift part, ``_infra`` its process and GPU part,
``_format`` escapes and formats text, ``_svg`` draws the charts, ``_html``
lays out the page, ``_app`` serves it over ASGI (and the token),
``_server`` serves it with the standard library alone, ``_cli`` is
``inferwatch serve-status``.
"""

from ._app import STATUS_PREFIX, StatusApp, to_json
from ._document import build_status
from ._html import render_html
from ._server import serve

__all__ = ["STATUS_PREFIX", "StatusApp", "build_status", "render_html", "serve", "to_json"]
