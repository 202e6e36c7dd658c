"""The status page: the status document rendered as one HTML page.

Overview first (what needs attention, worst first), then the sections in
the order an on-call engineer checks them: service health, prediction
quality, data quality, model performance, infrastructure, recent events.
The page is static HTML with inline CSS and SVG: no script, nothing fetched
(the app's Content-Security-Policy forbids both). A status is always a word
and a symbol as well as a colour. Every string is escaped (:func:`esc`);
numbers carry their JSON path (``data-key``) so a test can check them
against ``/inferwatch/status``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from ._format import (
    DASH,
    data_attrs,
    esc,
    fmt_bytes,
    fmt_duration,
    fmt_int,
    fmt_ms,
    fmt_num,
    fmt_pct,
)
from ._svg import STATUS_COLOURS, bin_labels, histogram_pair, light, meter

#: Error rate of a model above which the page marks it (without an SLO to say).
ERROR_RATE_WARNING, ERROR_RATE_FAILING = 0.01, 0.05
#: Data-quality rate (missing, out of range, new category) the page marks.
QUALITY_WARNING = 0.05

_WORDS = {"ok": "OK", "warning": "WARNING", "drift": "DRIFT", "no_data": "NO DATA",
          "exhausted": "EXHAUSTED", "failing": "FAILING", "degraded": "DEGRADED",
          "healthy": "HEALTHY"}
_SYMBOLS = {"ok": "\u2713", "healthy": "\u2713", "warning": "!", "degraded": "!",
            "drift": "\u2715", "failing": "\u2715", "exhausted": "\u2715"}
_CLASS = {"ok": "ok", "healthy": "ok", "warning": "warn", "degraded": "warn",
          "drift": "bad", "failing": "bad", "exhausted": "bad"}

CSS = """
:root{--fg:#111827;--muted:#4b5563;--line:#e5e7eb;--bg:#f9fafb;--ok:#15803d;
--warn:#b45309;--bad:#b91c1c}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--fg);background:var(--bg)}
header{background:#111827;color:#fff;padding:14px 20px}
header h1{margin:0;font-size:20px;font-weight:650;display:flex;align-items:center;gap:10px;
flex-wrap:wrap}
header .meta{color:#d1d5db;font-size:13px;margin-top:2px}
main{max-width:1120px;margin:0 auto;padding:16px 16px 40px}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:14px 18px;
margin:14px 0}
h2{font-size:17px;margin:0 0 10px;display:flex;gap:8px;align-items:baseline;flex-wrap:wrap}
h2 .n{color:var(--muted);font-weight:500}
h3{font-size:15px;margin:14px 0 6px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px}
.card{border:1px solid var(--line);border-radius:6px;padding:8px 12px}
.card .k{color:var(--muted);font-size:12.5px;text-transform:uppercase;letter-spacing:.03em}
.card .v{font-size:22px;font-weight:650;font-variant-numeric:tabular-nums}
.card .s{color:var(--muted);font-size:12.5px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:middle}
th{font-size:12.5px;color:var(--muted);font-weight:600;white-space:nowrap}
td.r,th.r,td.nw{text-align:right;white-space:nowrap}
td.nw{text-align:left}
.badge{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:700;
white-space:nowrap;border:1px solid currentColor}
.badge.ok{color:var(--ok);background:#f0fdf4}.badge.warn{color:var(--warn);background:#fffbeb}
.badge.bad{color:var(--bad);background:#fef2f2}.badge.none{color:var(--muted);background:#f3f4f6}
.attention{list-style:none;padding:0;margin:0}
.attention li{padding:6px 10px;border-left:4px solid var(--line);margin:4px 0;background:#fff}
.attention li.bad{border-color:var(--bad)}.attention li.warn{border-color:var(--warn)}
.attention li.ok{border-color:var(--ok)}
.muted{color:var(--muted)}
.note{color:var(--muted);font-size:13.5px;margin:6px 0}
.health{display:flex;gap:12px;align-items:center;flex-wrap:wrap}
.health .score{font-size:30px;font-weight:700}
svg.chart{width:100%;height:auto;max-width:720px;min-width:520px;display:block}
svg.chart .axis{font-size:11px;fill:#4b5563}svg.chart .legend{font-size:12px;fill:#111827}
svg.meter{vertical-align:middle}
a{color:#1d4ed8}
@media (max-width:560px){main{padding:8px}section{padding:10px 10px}
.card .v{font-size:19px}th,td{padding:4px 5px}}
"""


def badge(status: str) -> str:
    word = _WORDS.get(status, status.upper().replace("_", " "))
    symbol = _SYMBOLS.get(status, "\u2013")
    return (f'<span class="badge {_CLASS.get(status, "none")}" data-status="{esc(status)}">'
            f"{esc(symbol)} {esc(word)}</span>")


def _num(path: list[Any], value: Any, text: str) -> str:
    return f"<span{data_attrs(path, value)}>{esc(text)}</span>"


def _card(key: str, value_html: str, sub: str = "") -> str:
    sub_html = f'<div class="s">{sub}</div>' if sub else ""
    return (f'<div class="card"><div class="k">{esc(key)}</div>'
            f'<div class="v">{value_html}</div>{sub_html}</div>')


def _section(ident: str, number: int, title: str, body: str, status: str | None = None) -> str:
    tag = badge(status) if status else ""
    return (f'<section id="{esc(ident)}" data-section="{esc(ident)}">'
            f'<h2><span class="n">{number}</span> {esc(title)} {tag}</h2>{body}</section>')


def _table(head: Sequence[str], rows: Sequence[str], right: Sequence[int] = ()) -> str:
    ths = "".join(f'<th class="r">{esc(h)}</th>' if i in right else f"<th>{esc(h)}</th>"
                  for i, h in enumerate(head))
    return (f'<div class="scroll"><table><thead><tr>{ths}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _who(rep: Mapping[str, Any]) -> str:
    """A drift report's model as the summary names it ("churn:4", "churn:4 treatment")."""
    who = f"{rep['model']}:{rep['version']}" if rep["version"] else str(rep["model"])
    variant = rep.get("variant")
    return f"{who} {variant}" if variant else who


def fmt_p(value: Any) -> str:
    """A p-value: two significant digits, "< 0.0001" below that."""
    if isinstance(value, (int, float)) and 0 <= value < 1e-4:
        return "< 0.0001"
    return fmt_num(value, 2)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


def _when(stamp: Any) -> str:
    """An RFC 3339 time to the second ("2026-12-03 08:37:33 UTC")."""
    if not isinstance(stamp, str) or len(stamp) < 19:
        return DASH if stamp is None else str(stamp)
    return stamp[:19].replace("T", " ") + (" UTC" if stamp.endswith("Z") else "")


def _p_clause(value: Any) -> str:
    text = fmt_p(value)
    return text if text.startswith("<") else f"= {text}"


def _split_model(name: str) -> tuple[str, str]:
    model, _, version = name.rpartition(":")
    return (model, version) if model else (name, "")


# -- the overview -----------------------------------------------------------------


def attention(doc: Mapping[str, Any]) -> list[tuple[int, str, str]]:
    """What needs looking at, worst first: (level 2 bad / 1 warning, text, section id)."""
    items: list[tuple[int, str, str]] = []
    for name, m in (doc.get("models") or {}).items():
        rate = m.get("error_rate") or 0.0
        if rate > ERROR_RATE_WARNING:
            level = 2 if rate > ERROR_RATE_FAILING else 1
            items.append((level, f"{name}: error rate {fmt_pct(rate)} "
                                 f"({fmt_int(m.get('errors'))} of {fmt_int(m.get('calls'))} "
                                 "calls)", "service"))
    health = doc.get("health")
    for label, h in _health_entries(health):
        status = str(h.get("status") or h.get("light") or h.get("state") or "")
        if status in ("failing", "degraded", "red", "amber", "yellow"):
            level = 2 if status in ("failing", "red") else 1
            items.append((level, f"health {label}: {status} (score "
                                 f"{fmt_num(h.get('score'))})", "service"))
    for slo in doc.get("slos") or []:
        if slo.get("state") == "exhausted":
            items.append((2, f"SLO {slo.get('name')}: error budget exhausted", "service"))
        elif (slo.get("budget_remaining") or 1.0) < 0.25 and slo.get("state") == "ok":
            items.append((1, f"SLO {slo.get('name')}: "
                             f"{fmt_pct(slo.get('budget_remaining'), 1)} of the error budget "
                             "left", "service"))
    for model, signals in _anomalies(doc):
        for signal, a in signals:
            if a.get("alarm"):
                items.append((1, f"{model}: {signal.replace('_', ' ')} anomalous "
                                 f"({fmt_num(a.get('value'))}, expected about "
                                 f"{fmt_num(a.get('expected'))})", "service"))
    for rep in doc.get("drift") or []:
        who = _who(rep)
        drifted = [f["name"] for f in rep["features"] if f["status"] == "drift"]
        if drifted:
            shown = ", ".join(drifted[:5]) + (" \u2026" if len(drifted) > 5 else "")
            items.append((2, f"{who}: data drift in {len(drifted)} of {rep['n_features']} "
                             f"features ({shown})", "data"))
        pred = rep["outputs"].get("prediction")
        if pred and pred["status"] in ("drift", "warning"):
            items.append((2 if pred["status"] == "drift" else 1,
                          f"{who}: prediction distribution {_WORDS[pred['status']].lower()} "
                          f"(PSI {fmt_num(pred['psi'])})", "predictions"))
        warned = [f["name"] for f in rep["features"] if f["status"] == "warning"]
        if warned:
            items.append((1, f"{who}: drift warning on {', '.join(warned[:5])}", "data"))
        for f in rep["features"]:
            worst = max(("missing", "out_of_range", "new_category"),
                        key=lambda k: f["rates"].get(k) or 0.0)
            rate = f["rates"].get(worst) or 0.0
            if rate > QUALITY_WARNING:
                items.append((1, f"{who}: {f['name']} {worst.replace('_', ' ')} "
                                 f"{fmt_pct(rate, 1)}", "data"))
    for exp in doc.get("experiments") or []:
        if isinstance(exp, Mapping) and exp.get("stop"):
            items.append((2, f"experiment {exp.get('name')}: stop ({exp.get('reason')})",
                          "performance"))
    lost = {k: v for k, v in (doc.get("dropped") or {}).items() if v}
    if lost:
        top = ", ".join(f"{k} {fmt_int(v)}" for k, v in
                        sorted(lost.items(), key=lambda kv: -kv[1])[:3])
        items.append((1, f"{fmt_int(sum(lost.values()))} records or values lost ({top})",
                      "events"))
    errors = {k: v for k, v in (doc.get("errors") or {}).items() if v}
    if errors:
        items.append((1, f"{fmt_int(sum(errors.values()))} inferwatch internal errors "
                         f"({', '.join(sorted(errors))})", "events"))
    items.sort(key=lambda item: -item[0])
    return items


def _anomalies(doc: Mapping[str, Any]) -> list[tuple[str, list[tuple[str, Mapping[str, Any]]]]]:
    """``summary()["anomalies"]`` as (model, [(signal, verdict)]) pairs, sorted."""
    found = doc.get("anomalies")
    if not isinstance(found, Mapping):
        return []
    return [(str(model), [(str(sig), v) for sig, v in sorted(signals.items())
                          if isinstance(v, Mapping)])
            for model, signals in sorted(found.items()) if isinstance(signals, Mapping)]


def _overview(doc: Mapping[str, Any]) -> tuple[str, str]:
    items = attention(doc)
    if not items:
        models = doc.get("models") or {}
        text = ("All clear: no errors above 1 %, no drift, nothing lost."
                if models else "No calls yet: nothing to report.")
        return "ok", (f'<ul class="attention" id="attention"><li class="ok">{badge("ok")} '
                      f"{esc(text)}</li></ul>")
    overall = "failing" if items[0][0] == 2 else "degraded"
    rows = "".join(
        f'<li class="{"bad" if level == 2 else "warn"}">'
        f"{_level_badge(level)} "
        f'<a href="#{esc(anchor)}">{esc(text)}</a></li>'
        for level, text, anchor in items)
    return overall, f'<ul class="attention" id="attention">{rows}</ul>'


def _level_badge(level: int) -> str:
    return badge("failing") if level == 2 else badge("warning")


# -- 1 service health ---------------------------------------------------------------


def _health_entries(health: Any) -> list[tuple[str, Mapping[str, Any]]]:
    """Health as (label, entry) pairs: one overall entry, or one per model."""
    if isinstance(health, Mapping):
        if "score" in health:
            return [("overall", health)]
        return [(str(k), v) for k, v in health.items() if isinstance(v, Mapping)]
    if isinstance(health, list):
        return [(str(h.get("model") or h.get("model.name") or i), h)
                for i, h in enumerate(health) if isinstance(h, Mapping)]
    return []


def _explanation(entry: Mapping[str, Any]) -> str:
    for key in ("explanation", "reasons", "factors", "why", "text"):
        value = entry.get(key)
        if isinstance(value, str) and value:
            return esc(value)
        if isinstance(value, list) and value:
            items = "".join(f"<li>{esc(v.get('text', v) if isinstance(v, Mapping) else v)}</li>"
                            for v in value[:8])
            return f"<ul>{items}</ul>"
        if isinstance(value, Mapping) and value:
            items = "".join(f"<li>{esc(k)}: {esc(v)}</li>" for k, v in list(value.items())[:8])
            return f"<ul>{items}</ul>"
    return ""


def _health(doc: Mapping[str, Any]) -> str:
    entries = _health_entries(doc.get("health"))
    if not entries:
        return ('<h3>Health score</h3><p class="note" id="health-none">Health score not '
                "configured: no health engine is attached to this monitor.</p>")
    out = ["<h3>Health score</h3>"]
    for label, h in entries:
        raw = str(h.get("status") or h.get("light") or h.get("state") or "")
        status = {"green": "healthy", "amber": "degraded", "yellow": "degraded",
                  "red": "failing"}.get(raw, raw)
        path = ["health", "score"] if label == "overall" else ["health", label, "score"]
        out.append(
            f'<div class="health">{light(status, _WORDS.get(status, status))}'
            f'<span class="score">{_num(path, h.get("score"), fmt_num(h.get("score")))}'
            f'<span class="muted" style="font-size:15px"> / 100</span></span>'
            f"{badge(status or 'no_data')} <b>{esc(label)}</b></div>"
            f'<div class="note">{_explanation(h)}</div>')
    return "".join(out)


def _slos(doc: Mapping[str, Any]) -> str:
    slos = doc.get("slos")
    if not slos:
        return ('<h3>SLO error budgets</h3><p class="note" id="slos-none">SLOs not '
                "configured: <code>inferwatch.slo.track(\"slos.yaml\")</code> adds them.</p>")
    rows = []
    for i, s in enumerate(slos):
        left = s.get("budget_remaining")
        state = str(s.get("state") or "no_data")
        colour = STATUS_COLOURS["ok"] if (left or 0) >= 0.25 else (
            STATUS_COLOURS["warning"] if (left or 0) > 0 else STATUS_COLOURS["drift"])
        rows.append(
            f"<tr><td>{esc(s.get('name'))}</td><td>{esc(s.get('kind'))}</td>"
            f'<td class="r">{esc(fmt_pct(s.get("target"), 2))}</td>'
            f'<td class="r">{_num(["slos", i, "sli"], s.get("sli"), fmt_pct(s.get("sli"), 3))}'
            f"</td><td>{meter(left, label=f'budget left {fmt_pct(left, 1)}', colour=colour)} "
            f'{_num(["slos", i, "budget_remaining"], left, fmt_pct(left, 1))}</td>'
            f"<td>{badge(state)}</td></tr>")
    return ("<h3>SLO error budgets</h3>"
            + _table(["SLO", "kind", "target", "SLI", "budget left", "state"], rows, (2, 3)))


def _service(doc: Mapping[str, Any]) -> str:
    models: Mapping[str, Any] = doc.get("models") or {}
    calls = sum(m.get("calls", 0) for m in models.values())
    errors = sum(m.get("errors", 0) for m in models.values())
    rate = errors / calls if calls else 0.0
    in_flight = sum(m.get("in_flight", 0) for m in models.values())
    busiest = max(models.items(), key=lambda kv: kv[1].get("calls", 0), default=None)
    if busiest is not None:
        name, top = busiest
        p50 = _num(["models", name, "latency_p50_ms"], top.get("latency_p50_ms"),
                   fmt_ms(top.get("latency_p50_ms")))
        p99 = _num(["models", name, "latency_p99_ms"], top.get("latency_p99_ms"),
                   fmt_ms(top.get("latency_p99_ms")))
        lat_sub = esc(name)
    else:
        p50 = p99 = esc(DASH)
        lat_sub = "no calls yet"
    cards = "".join((
        _card("Traffic", f'<span id="total-calls">{esc(fmt_int(calls))}</span>',
              "calls since start"),
        _card("Error rate", f'<span id="total-error-rate">{esc(fmt_pct(rate))}</span>',
              f"{esc(fmt_int(errors))} errors"),
        _card("Latency p50", p50, lat_sub),
        _card("Latency p99", p99, lat_sub),
        _card("In flight", esc(fmt_int(in_flight)), "calls now"),
    ))
    rows = []
    for name, m in sorted(models.items()):
        model, version = _split_model(name)
        rate_m = m.get("error_rate") or 0.0
        status = ("failing" if rate_m > ERROR_RATE_FAILING else
                  "degraded" if rate_m > ERROR_RATE_WARNING else "ok")
        rows.append(
            f'<tr><td>{esc(model)}</td><td class="nw">{esc(version or DASH)}</td>'
            f'<td class="r">{_num(["models", name, "calls"], m.get("calls"), fmt_int(m.get("calls")))}</td>'  # noqa: E501
            f'<td class="r">{_num(["models", name, "errors"], m.get("errors"), fmt_int(m.get("errors")))}</td>'  # noqa: E501
            f'<td class="r">{_num(["models", name, "error_rate"], rate_m, fmt_pct(rate_m))}</td>'
            f'<td class="r">{_num(["models", name, "latency_p50_ms"], m.get("latency_p50_ms"), fmt_ms(m.get("latency_p50_ms")))}</td>'  # noqa: E501
            f'<td class="r">{_num(["models", name, "latency_p99_ms"], m.get("latency_p99_ms"), fmt_ms(m.get("latency_p99_ms")))}</td>'  # noqa: E501
            f'<td class="r">{_num(["models", name, "in_flight"], m.get("in_flight"), fmt_int(m.get("in_flight")))}</td>'  # noqa: E501
            f"<td>{badge(status)}</td></tr>")
    versions = doc.get("model_versions") or []
    first_seen = {(v.get("model.name"), v.get("model.version")): v.get("first_seen")
                  for v in versions if isinstance(v, Mapping)}
    if first_seen:
        for i, row in enumerate(rows):
            model, version = _split_model(sorted(models)[i])
            seen = first_seen.get((model, version))
            rows[i] = row.replace("</tr>", f'<td class="nw">{esc(_when(seen))}</td></tr>')
    head = ["model", "version", "calls", "errors", "error rate", "p50", "p99", "in flight",
            "status"] + (["first seen"] if first_seen else [])
    table = (_table(head, rows, (2, 3, 4, 5, 6, 7)) if rows
             else '<p class="note">No model has been called yet.</p>')
    return (f'<div class="cards">{cards}</div><h3>Model versions serving</h3>{table}'
            f"{_health(doc)}{_slos(doc)}{_anomaly_table(doc)}")


def _anomaly_table(doc: Mapping[str, Any]) -> str:
    found = _anomalies(doc)
    if not found:
        return ""
    rows = []
    for model, signals in found:
        for signal, a in signals:
            status = ("warning" if a.get("alarm") else "no_data" if a.get("warming_up")
                      else "ok")
            word = {"warning": "ALARM", "no_data": "WARMING UP", "ok": "OK"}[status]
            rows.append(
                f"<tr><td>{esc(model)}</td><td>{esc(signal.replace('_', ' '))}</td>"
                f'<td class="r">{esc(fmt_num(a.get("value")))}</td>'
                f'<td class="r">{esc(fmt_num(a.get("expected")))}</td>'
                f'<td class="r">{esc(fmt_num(a.get("score")))}</td>'
                f'<td><span class="badge {_CLASS.get(status, "none")}" '
                f'data-status="{esc(status)}">{esc(_SYMBOLS.get(status, DASH))} '
                f"{esc(word)}</span></td></tr>")
    return ("<h3>Anomalies against the learned baseline</h3>"
            + _table(["model", "signal", "last interval", "expected", "score", "state"],
                     rows, (2, 3, 4)))


# -- 2 prediction quality -------------------------------------------------------------


def _predictions(doc: Mapping[str, Any]) -> tuple[str, str | None]:
    parts = []
    worst: str | None = None
    means: Mapping[str, Any] = doc.get("predictions") or {}
    if means:
        rows = [
            f"<tr><td>{esc(name)}</td>"
            f'<td class="r">{_num(["predictions", name, "mean_prediction"], p.get("mean_prediction"), fmt_num(p.get("mean_prediction")))}</td>'  # noqa: E501
            f'<td class="r">{_num(["predictions", name, "mean_confidence"], p.get("mean_confidence"), fmt_num(p.get("mean_confidence")))}</td>'  # noqa: E501
            f'<td class="r">{esc(fmt_int(p.get("predictions")))}</td></tr>'
            for name, p in means.items()
        ]
        parts.append(_table(["model", "mean prediction", "mean confidence", "predictions"],
                            rows, (1, 2, 3)))
        parts.append('<p class="note">Means of every successful numeric prediction since '
                     "the process started.</p>")
    reports = doc.get("drift")
    if reports is None:
        parts.append('<p class="note" id="predictions-none">No reference profile: '
                     "<code>inferwatch.drift.watch(\"model.iwprofile\")</code> compares "
                     "predictions with the training data.</p>")
    for i, rep in enumerate(reports or []):
        who = _who(rep)
        pred = rep["outputs"].get("prediction")
        if rep["warming_up"]:
            parts.append(f"<h3>{esc(who)}</h3><p class=\"note\">Warming up: "
                         f"{esc(fmt_int(rep['warmup_rows']))} rows collected for the "
                         "reference.</p>")
            continue
        if pred is None:
            continue
        status = pred["status"]
        worst = _worse(worst, status)
        window = rep.get("window") or {}
        parts.append(
            f'<h3>{esc(who)} {badge(status)}</h3><p class="note">PSI '
            f'{_num(["drift", i, "outputs", "prediction", "psi"], pred["psi"], fmt_num(pred["psi"]))}'  # noqa: E501
            f" against the reference, {esc(pred['test'] or 'no test')} p "
            f"{esc(_p_clause(pred['pvalue']))}; window {esc(window.get('spec', DASH))} #"
            f"{esc(window.get('index', DASH))}, {esc(fmt_int(window.get('rows')))} rows"
            f"{'' if window.get('complete') else ' (still open)'}.</p>")
        hist = rep.get("prediction_histogram")
        if hist:
            labels = (bin_labels(hist["edges"]) if hist["kind"] == "numeric"
                      else hist["labels"])
            chart = histogram_pair(f"prediction distribution of {who}: reference vs current "
                                   "window", labels, hist["reference"], hist["current"])
            parts.append(f'<div class="scroll">{chart}</div>')
    return "".join(parts) or '<p class="note">No predictions yet.</p>', worst


def _worse(a: str | None, b: str) -> str:
    order = {"ok": 0, "no_data": 0, "warning": 1, "drift": 2}
    return b if a is None or order.get(b, 0) > order.get(a, 0) else a


# -- 3 data quality -------------------------------------------------------------------


def _rate_cell(path: list[Any], value: Any) -> str:
    mark = " \u26a0" if (value or 0.0) > QUALITY_WARNING else ""
    return f'<td class="r">{_num(path, value, fmt_pct(value, 1))}{esc(mark)}</td>'


def _data(doc: Mapping[str, Any]) -> tuple[str, str | None]:
    reports = doc.get("drift")
    if reports is None:
        return ('<p class="note" id="data-none">Data drift not configured: '
                "<code>inferwatch.drift.watch(\"model.iwprofile\")</code> watches every "
                "feature against the training data.</p>", None)
    parts = []
    worst: str | None = None
    for i, rep in enumerate(reports):
        who = _who(rep) or "no traffic yet"
        if rep["warming_up"]:
            parts.append(f"<h3>{esc(who)}</h3><p class=\"note\">Warming up: the reference "
                         "is frozen from the first live rows.</p>")
            continue
        worst = _worse(worst, rep["status"])
        rows = []
        for j, f in enumerate(rep["features"]):
            base = ["drift", i, "features", j]
            psi = f["psi"]
            bar = meter(None if psi is None else psi / 0.5, label=f"PSI {fmt_num(psi)}",
                        colour=STATUS_COLOURS.get(f["status"], "#6b7280"), marks=(0.2, 0.4),
                        width=90)
            rows.append(
                f'<tr data-feature="{esc(f["name"])}"><td>{esc(f["name"])}</td>'
                f"<td>{badge(f['status'])}</td>"
                f'<td class="nw">{bar} '
                f"{_num([*base, 'psi'], psi, fmt_num(psi))}</td>"
                f'<td class="r">{esc(f["test"] or DASH)} {_num([*base, "pvalue"], f["pvalue"], fmt_p(f["pvalue"]))}</td>'  # noqa: E501
                + _rate_cell([*base, "rates", "missing"], f["rates"]["missing"])
                + _rate_cell([*base, "rates", "out_of_range"], f["rates"]["out_of_range"])
                + _rate_cell([*base, "rates", "new_category"], f["rates"]["new_category"])
                + "</tr>")
        window = rep.get("window") or {}
        extra = []
        if rep["unknown_features"]:
            extra.append(f"{fmt_int(rep['unknown_features'])} feature names not in the "
                         "reference")
        if rep["missing_features"]:
            extra.append(f"{fmt_int(rep['missing_features'])} reference features never sent")
        if rep["unreadable_rows"]:
            extra.append(f"{fmt_int(rep['unreadable_rows'])} unreadable rows")
        multi = rep.get("multivariate")
        if multi and multi["status"] != "no_data":
            extra.append(f"all features together (MMD): {_WORDS.get(multi['status'])}, "
                         f"p {_p_clause(multi['pvalue'])}")
        parts.append(
            f'<h3>{esc(who)} {badge(rep["status"])}</h3>'
            f'<p class="note">{_num(["drift", i, "n_drifted"], rep["n_drifted"], fmt_int(rep["n_drifted"]))}'  # noqa: E501
            f" of {esc(fmt_int(rep['n_features']))} features drifted in window "
            f"{esc(window.get('spec', DASH))} #{esc(window.get('index', DASH))} "
            f"({esc(fmt_int(window.get('rows')))} rows). Worst first; PSI marks at 0.1 and "
            f"0.2.{' ' + esc(_sentence('; '.join(extra))) if extra else ''}</p>"
            + _table(["feature", "drift", "PSI", "test p", "missing", "out of range",
                      "new category"], rows, (3, 4, 5, 6)))
    return "".join(parts), worst


# -- 4, 5, 6 ------------------------------------------------------------------------


_MEASURE_NAMES = {"accuracy": "accuracy", "precision": "precision", "recall": "recall",
                  "f1": "F1", "macro_f1": "macro F1", "roc_auc": "ROC AUC",
                  "log_loss": "log loss", "brier": "Brier", "ece": "ECE", "mae": "MAE",
                  "rmse": "RMSE", "mape": "MAPE"}
_PERCENT_MEASURES = frozenset({"accuracy", "precision", "recall", "f1", "macro_f1", "mape"})


def _experiments(doc: Mapping[str, Any]) -> str:
    """A/B experiments watched from the monitor (``summary()["experiments"]``)."""
    parts = []
    for e, exp in enumerate(doc.get("experiments") or []):
        if not isinstance(exp, Mapping):
            continue
        base = ["experiments", e]
        decision = str(exp.get("decision") or "").replace("_", " ")
        rows = []
        effects = {x.get("variant"): x for x in exp.get("effects") or []}
        for v, variant in enumerate(exp.get("variants") or []):
            effect = effects.get(variant.get("name"))
            rows.append(
                f"<tr><td>{esc(variant.get('name'))}</td>"
                f'<td class="r">{_num([*base, "variants", v, "units"], variant.get("units"), fmt_int(variant.get("units")))}</td>'  # noqa: E501
                f'<td class="r">{_num([*base, "variants", v, "mean"], variant.get("mean"), fmt_num(variant.get("mean")))}</td>'  # noqa: E501
                f'<td class="r">{esc(fmt_num(effect["delta"]) if effect else DASH)}</td>'
                f'<td class="r">{esc(fmt_num(effect["pvalue"]) if effect else DASH)}</td></tr>')
        guards = "; ".join(f"{g.get('name')} ({g.get('variant')}): {g.get('status')}"
                           for g in exp.get("guardrails") or [])
        parts.append(
            f"<h3>Experiment {esc(exp.get('name'))} "
            f"{badge('failing' if exp.get('stop') else ('ok' if exp.get('final') else 'running'))}"
            f"</h3>"
            f'<p class="note">{esc(decision)}: day {esc(exp.get("day"))} of '
            f"{esc(exp.get('min_days'))}; primary metric {esc(exp.get('primary'))}"
            f"{'; ' + esc(exp.get('reason')) if exp.get('reason') else ''}"
            f"{'; ' + esc(exp.get('not_final')) if exp.get('not_final') else ''}.</p>"
            + _table(["variant", "units", "mean", "effect", "p (always valid)"], rows,
                     (1, 2, 3, 4))
            + (f'<p class="note">Guardrails: {esc(guards)}.</p>' if guards else ""))
    return "".join(parts)


def _labels(doc: Mapping[str, Any]) -> str:
    labels = doc.get("labels")
    trackers = labels.get("trackers") if isinstance(labels, Mapping) else None
    if not trackers:
        return ('<p class="note" id="labels-none">No labels yet: accuracy and calibration '
                "appear once ground truth is recorded "
                "(<code>inferwatch.labels.track(...)</code>, then "
                "<code>inferwatch.record_label</code>).</p>")
    parts = []
    for t, tracker in enumerate(trackers):
        if not isinstance(tracker, Mapping):
            continue
        received = tracker.get("received") or {}
        counts = "; ".join(
            f"{esc(source)}: " + ", ".join(f"{esc(fmt_int(n))} {esc(result.replace('_', ' '))}"
                                           for result, n in sorted(by.items()))
            for source, by in sorted(received.items()))
        store = tracker.get("store") or {}
        parts.append(
            f'<p class="note">{esc(tracker.get("task"))} task'
            f"{', positive class ' + esc(tracker.get('positive')) if tracker.get('positive') is not None else ''}"  # noqa: E501
            f"; {_num(['labels', 'trackers', t, 'store', 'entries'], store.get('entries'), fmt_int(store.get('entries')))}"  # noqa: E501
            f" predictions waiting for labels. Labels: {counts or 'none yet'}.</p>")
        parts.append(_live_estimates(t, tracker))
        rows = tracker.get("quality") or []
        if not rows:
            parts.append('<p class="note" id="labels-none">No label joined yet.</p>')
        for r, row in enumerate(rows):
            parts.append(_quality_row(t, r, row))
        outcomes = tracker.get("outcomes") or []
        if outcomes:
            orows = [
                f"<tr><td>{esc(o['model'])}:{esc(o['version'])}</td>"
                f"<td>{esc(o.get('variant') or DASH)}</td><td>{esc(o['name'])}</td>"
                f'<td class="r">{_num(["labels", "trackers", t, "outcomes", i, "count"], o["count"], fmt_int(o["count"]))}</td>'  # noqa: E501
                f'<td class="r">{_num(["labels", "trackers", t, "outcomes", i, "sum"], o["sum"], fmt_num(o["sum"]))}</td>'  # noqa: E501
                f'<td class="r">{_num(["labels", "trackers", t, "outcomes", i, "rate"], o["rate"], fmt_pct(o["rate"], 1))}</td></tr>'  # noqa: E501
                for i, o in enumerate(outcomes)]
            parts.append("<h3>Business outcomes</h3>" + _table(
                ["model", "variant", "outcome", "count", "sum", "rate"], orows, (3, 4, 5)))
        parts.append(_policy_table(t, tracker.get("policy")))
    return "".join(parts)


def _policy_table(t: int, policy: Any) -> str:
    """The evaluated policy's value (IPW, SNIPS) per series, when a reward is named."""
    if not isinstance(policy, Mapping):
        return ""
    rows = []
    for i, row in enumerate(policy.get("series") or []):
        base = ["labels", "trackers", t, "policy", "series", i]
        cells = [f"<td>{esc(row['model'])}:{esc(row['version'])}</td>"
                 f"<td>{esc(row.get('variant') or DASH)}</td>",
                 f'<td class="r">{_num([*base, "decisions"], row["decisions"], fmt_int(row["decisions"]))}</td>']  # noqa: E501
        for method in ("ipw", "snips"):
            est = row.get(method) or {}
            value, low, high = est.get("value"), est.get("ci_low"), est.get("ci_high")
            band = (f"{fmt_num(low)} to {fmt_num(high)}" if low is not None and high is not None
                    else DASH)
            cells.append(f'<td class="r">{_num([*base, method, "value"], value, fmt_num(value))}'
                         f"</td><td>{esc(band)}</td>")
        warnings = sorted({w for m in ("ipw", "snips") for w in (row.get(m) or {}).get(
            "warnings") or ()})
        cells.append(f"<td>{esc(', '.join(warnings) or DASH)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    rewards = policy.get("rewards") or {}
    note = (f'<p class="note">Reward: the first <code>{esc(policy.get("reward"))}</code> outcome '
            f"of each call that logged a propensity, within "
            f"{esc(fmt_num(policy.get('horizon_s')))} s; "
            f"{_num(['labels', 'trackers', t, 'policy', 'waiting'], policy.get('waiting'), fmt_int(policy.get('waiting')))}"  # noqa: E501
            f" decisions within their horizon; rewards late: "
            f"{_num(['labels', 'trackers', t, 'policy', 'rewards', 'late'], rewards.get('late'), fmt_int(rewards.get('late')))}"  # noqa: E501
            f".</p>")
    if not rows:
        return "<h3>Policy value</h3>" + note
    return "<h3>Policy value</h3>" + note + _table(
        ["model", "variant", "decisions", "IPW", "95 % interval", "SNIPS", "95 % interval",
         "warnings"], rows, (2, 3, 5))


def _quality_row(t: int, r: int, row: Mapping[str, Any]) -> str:
    base = ["labels", "trackers", t, "quality", r]
    who = f"{row.get('model')}:{row.get('version')}"
    if row.get("variant"):
        who += f" variant {row['variant']}"
    windows = row.get("windows") or []
    names = [m for m in _MEASURE_NAMES
             if any((w.get("measures") or {}).get(m) is not None for w in windows)]
    wrows = []
    for w, win in enumerate(windows):
        measures = win.get("measures") or {}
        cells = "".join(
            f'<td class="r">{_num([*base, "windows", w, "measures", m], measures.get(m), fmt_pct(measures.get(m), 1) if m in _PERCENT_MEASURES else fmt_num(measures.get(m)))}</td>'  # noqa: E501
            for m in names)
        delay = (win.get("delay") or {}).get("p50")
        wrows.append(f"<tr><td>{esc(win.get('window'))}</td>"
                     f'<td class="r">{_num([*base, "windows", w, "pairs"], win.get("pairs"), fmt_int(win.get("pairs")))}</td>'  # noqa: E501
                     f"{cells}<td class=\"r\">{esc(fmt_duration(delay))}</td></tr>")
    head = ["window", "pairs", *(_MEASURE_NAMES[m] for m in names), "label delay p50"]
    rate = row.get("join_rate")
    note = (f'<p class="note">{esc(row.get("source"))} labels: '
            f"{_num([*base, 'joined'], row.get('joined'), fmt_int(row.get('joined')))} joined, "
            f"{_num([*base, 'join_rate'], rate, fmt_pct(rate, 1))} of the "
            f"{esc(fmt_int(row.get('stored')))} predictions stored.</p>")
    html = (f"<h3>{esc(who)} ({esc(row.get('source'))})</h3>{note}"
            + _table(head, wrows, tuple(range(1, len(head)))))
    html += _beside(base, windows)
    bins = next((win.get("reliability") for win in windows if win.get("reliability")), None)
    if bins:
        brows = [f"<tr><td>{esc(fmt_num(b.get('lower'), 2))}\u2013{esc(fmt_num(b.get('upper'), 2))}</td>"  # noqa: E501
                 f'<td class="r">{esc(fmt_int(b.get("count")))}</td>'
                 f'<td class="r">{esc(fmt_num(b.get("mean_probability")))}</td>'
                 f'<td class="r">{esc(fmt_num(b.get("observed")))}</td></tr>'
                 for b in bins if b.get("count")]
        html += ("<h3>Reliability (calibration)</h3>"
                 + _table(["probability", "pairs", "mean probability", "observed"], brows,
                          (1, 2, 3)))
    return html


def _fmt_measure(name: str, value: Any) -> str:
    return fmt_pct(value, 1) if name in _PERCENT_MEASURES else fmt_num(value)


def _beside(base: list[Any], windows: Sequence[Any]) -> str:
    """Each window's label-free estimate of the same pairs, beside the realised value."""
    rows = []
    for w, win in enumerate(windows):
        est = win.get("estimated") if isinstance(win, Mapping) else None
        for name, m in ((est or {}).get("measures") or {}).items():
            outside = m.get("outside")
            flag = (badge("drift") + " outside the band" if outside
                    else DASH if outside is None else "inside")
            path = [*base, "windows", w, "estimated", "measures", name]
            rows.append(
                f"<tr><td>{esc(win.get('window'))}</td><td>{esc(_MEASURE_NAMES.get(name, name))}</td>"  # noqa: E501
                f'<td class="r">{_num([*path, "value"], m.get("value"), _fmt_measure(name, m.get("value")))}</td>'  # noqa: E501
                f'<td class="r">{esc(_fmt_measure(name, m.get("lower")))}\u2013{esc(_fmt_measure(name, m.get("upper")))}</td>'  # noqa: E501
                f'<td class="r">{_num([*path, "realised"], m.get("realised"), _fmt_measure(name, m.get("realised")))}</td>'  # noqa: E501
                f"<td>{flag}</td></tr>")
    if not rows:
        return ""
    return ("<h3>Estimated without labels, beside the realised value</h3>"
            '<p class="note">The estimate (CBPE / DLE) of the same predictions from their '
            "stored probabilities, valid under covariate shift only; a realised value "
            "outside the band is a sign of concept drift.</p>"
            + _table(["window", "measure", "estimated", "band", "realised", ""], rows,
                     (2, 3, 4)))


def _live_estimates(t: int, tracker: Mapping[str, Any]) -> str:
    """The label-free estimate over each window's latest predictions."""
    rows = []
    for r, row in enumerate(tracker.get("estimated") or []):
        who = f"{row.get('model')}:{row.get('version')}"
        if row.get("variant"):
            who += f" variant {row['variant']}"
        for w, win in enumerate(row.get("windows") or []):
            for name, m in (win.get("measures") or {}).items():
                path = ["labels", "trackers", t, "estimated", r, "windows", w, "measures", name]
                rows.append(
                    f"<tr><td>{esc(who)}</td><td>{esc(win.get('window'))}</td>"
                    f'<td class="r">{esc(fmt_int(win.get("predictions")))}</td>'
                    f"<td>{esc(_MEASURE_NAMES.get(name, name))}</td>"
                    f'<td class="r">{_num([*path, "value"], m.get("value"), _fmt_measure(name, m.get("value")))}</td>'  # noqa: E501
                    f'<td class="r">{esc(_fmt_measure(name, m.get("lower")))}\u2013{esc(_fmt_measure(name, m.get("upper")))}</td></tr>')  # noqa: E501
    if not rows:
        return ""
    return ("<h3>Estimated without labels (latest predictions)</h3>"
            + _table(["model", "window", "predictions", "measure", "estimated", "band"], rows,
                     (2, 4, 5)))


def _money(value: Any) -> str:
    """US dollars: cents above a cent, three significant digits below."""
    text = fmt_num(value)  # a dash for None and NaN
    if text == DASH:
        return DASH
    return f"${float(value):,.2f}" if abs(float(value)) >= 0.01 else f"${text}"


def _cost_card(cost: Any) -> str:
    """Cost per prediction (``doc["cost"]``, present when a price is configured)."""
    if not isinstance(cost, Mapping):
        return _card("Cost per prediction", esc(DASH),
                     "set <code>cost_per_hour</code> / <code>gpu_cost_per_hour</code>")
    per = cost.get("per_prediction")
    minutes = fmt_num((cost.get("window_s") or 0) / 60, 2)
    if per is None:
        return _card("Cost per prediction", esc(DASH),
                     esc(f"no predictions in the last {minutes} min"))
    share = cost.get("cpu_share")
    source = {"cuda_events": "CUDA events", "nvml": "NVML utilisation"}.get(
        str(cost.get("gpu_source")), "no GPU seen")
    gpu = (f", GPU busy {fmt_num(cost.get('gpu_busy_s'))} s ({source})"
           if cost.get("gpu_cost_per_hour") else "")
    return _card("Cost per prediction",
                 esc(f"{_money(per * 1e6)} per 1M"),
                 esc(f"{_money(per)} each; {_money(cost.get('hourly'))}/h over "
                     f"{fmt_duration(cost.get('over_s'))}: CPU {fmt_pct(share, 1)} of "
                     f"{fmt_int(cost.get('cores'))} cores{gpu}"))


def _infra(doc: Mapping[str, Any]) -> str:
    infra: Mapping[str, Any] = doc.get("infrastructure") or {}
    cpu = infra.get("cpu_percent")
    cards = "".join((
        _card("Process CPU", esc(f"{fmt_num(cpu)} %" if cpu is not None else DASH),
              f"of one core, {esc(infra.get('cpu_percent_over') or '')}"),
        _card("Memory (RSS)", esc(fmt_bytes(infra.get("rss_bytes"))),
              f"peak {esc(fmt_bytes(infra.get('max_rss_bytes')))}"),
        _card("Threads", esc(fmt_int(infra.get("threads"))),
              f"{esc(fmt_int(infra.get('cpu_count')))} CPUs, load "
              f"{esc(fmt_num(infra.get('load_1m')))}"),
        _card("Uptime", esc(fmt_duration(infra.get("uptime_s"))),
              f"pid {esc(infra.get('pid', DASH))}"),
        _cost_card(doc.get("cost")),
    ))
    gpu: Mapping[str, Any] = infra.get("gpu") or {}
    if gpu.get("available"):
        rows = [
            f"<tr><td>{esc(d.get('index'))}</td><td>{esc(d.get('name') or DASH)}</td>"
            f'<td class="r">{esc(fmt_pct(d.get("utilization"), 0))}</td>'
            f'<td class="r">{esc(fmt_bytes(d.get("memory_used_bytes")))} / '
            f'{esc(fmt_bytes(d.get("memory_total_bytes")))}</td>'
            f'<td class="r">{esc(fmt_num(d.get("temperature_c")))} \u00b0C</td>'
            f'<td class="r">{esc(fmt_num(d.get("power_w")))} W</td></tr>'
            for d in gpu.get("devices") or []
        ]
        gpu_html = _table(["GPU", "name", "utilisation", "memory", "temperature", "power"],
                          rows, (2, 3, 4, 5))
    else:
        gpu_html = (f'<p class="note" id="gpu-none">No GPU '
                    f"({esc(gpu.get('reason') or 'none found')}).</p>")
    return f'<div class="cards">{cards}</div><h3>GPU</h3>{gpu_html}'


def _events(doc: Mapping[str, Any]) -> str:
    parts = []
    versions = [v for v in doc.get("model_versions") or [] if isinstance(v, Mapping)]
    if versions:
        rows = [f'<tr><td class="nw">{esc(_when(v.get("first_seen")))}</td>'
                f"<td>{esc(v.get('model.name'))}</td>"
                f"<td>{esc(v.get('model.version'))}</td></tr>"
                for v in sorted(versions, key=lambda v: str(v.get("first_seen")),
                                reverse=True)[:10]]
        parts.append("<h3>Model versions first seen</h3>"
                     + _table(["first seen", "model", "version"], rows))
    windows = [(_who(r), r.get("windows_closed") or {}) for r in doc.get("drift") or []]
    windows = [(who, counts) for who, counts in windows if any(counts.values())]
    if windows:
        rows = [f"<tr><td>{esc(who)}</td>" + "".join(
            f'<td class="r">{esc(fmt_int(counts.get(k, 0)))}</td>'
            for k in ("drift", "warning", "ok", "no_data")) + "</tr>"
            for who, counts in windows]
        parts.append("<h3>Drift windows closed, by status</h3>"
                     + _table(["model", "drift", "warning", "ok", "no data"], rows,
                              (1, 2, 3, 4)))
    for key, title, what in (("dropped", "Dropped", "reason"),
                             ("errors", "inferwatch errors", "component")):
        counts = {k: v for k, v in (doc.get(key) or {}).items() if v}
        if counts:
            rows = [f"<tr><td>{esc(k)}</td><td class=\"r\">"
                    f"{_num([key, k], v, fmt_int(v))}</td></tr>"
                    for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
            parts.append(f"<h3>{esc(title)} by {esc(what)}</h3>"
                         + _table([what, "count"], rows, (1,)))
        else:
            parts.append(f'<h3>{esc(title)}</h3><p class="note" id="{esc(key)}-none">None '
                         "since the process started.</p>")
    return "".join(parts)


def render_html(doc: Mapping[str, Any], *, title: str = "inferwatch status",
                refresh: int = 0, json_url: str = "status") -> str:
    """The status page of one status document (see :func:`build_status`).

    ``refresh`` reloads the page every so many seconds (0: never); ``json_url``
    is where the page links to the same document as JSON.
    """
    overall, overview = _overview(doc)
    predictions, pred_status = _predictions(doc)
    data, data_status = _data(doc)
    generated = doc.get("generated_at")
    when = (time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(generated))
            if isinstance(generated, (int, float)) else DASH)
    meta_refresh = (f'<meta http-equiv="refresh" content="{int(refresh)}">'
                    if refresh > 0 else "")
    word = {"ok": "All clear", "degraded": "Needs attention", "failing": "Failing"}[overall]
    sections = "".join((
        _section("service", 1, "Service health", _service(doc)),
        _section("predictions", 2, "Prediction quality", predictions, pred_status),
        _section("data", 3, "Data quality", data, data_status),
        _section("performance", 4, "Model performance", _labels(doc) + _experiments(doc)),
        _section("infrastructure", 5, "Infrastructure", _infra(doc)),
        _section("events", 6, "Recent events", _events(doc)),
    ))
    return (
        "<!doctype html>"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'{meta_refresh}<link rel="icon" href="data:,"><title>{esc(title)}</title>'
        f"<style>{CSS}</style></head><body>"
        f'<header><h1>{light(overall, word)} {esc(title)} '
        f'<span class="badge {_CLASS[overall] if overall != "degraded" else "warn"}" '
        f'id="overall" data-status="{esc(overall)}" style="background:#fff">'
        f"{esc(_SYMBOLS.get(overall, '?'))} {esc(word.upper())}</span></h1>"
        f'<div class="meta">generated {esc(when)} \u00b7 pid {esc(doc.get("pid", DASH))}'
        f' \u00b7 JSON: <a style="color:#93c5fd" href="{esc(json_url)}">status</a></div></header>'
        f'<main><section id="overview" data-section="overview"><h2>What needs attention'
        f"</h2>{overview}</section>{sections}</main></body></html>"
    )
