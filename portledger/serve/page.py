"""``/``: the port map of ``report --format html`` with the live state laid on it.

The page is whole without JavaScript (the server renders the last probe into it); a small
script of our own (``/static/live.js``, no external assets) refreshes the live table in
place from ``/api/v1/ports`` every interval. The Content-Security-Policy allows only this
origin's script and requests.
"""

from __future__ import annotations

import html as _html
from typing import Any

META_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
            "script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'")
CSP = META_CSP + "; frame-ancestors 'none'"
"""The header's policy (``frame-ancestors`` is honoured only there, not in the page's meta)."""
_REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

LIVE_CSS = """
#live td.state-up { color: #0a6b2b; } #live td.state-down { color: #666; }
#live tr.wrong td { background: #fde8e8; } #live td.health-bad { color: #b00020; }
"""


def _e(value: object) -> str:
    return _html.escape(str(value), quote=True)


def row_id(service: str, name: str) -> str:
    return f"live-{service}-{name}"


def cells(p: Any) -> dict[str, str]:
    """The live table's texts for one port (the script computes the same from JSON)."""
    if p.holders:
        held = "; ".join(f"{h['description']}{'' if h['owner'] else ' (not the owner)'}"
                         for h in p.holders)
    else:
        held = "nothing"
    if p.health_ok is None:
        health = f"unknown: {p.health_reason}" if p.health_reason else "not asked"
    elif p.health_ok:
        health = f"ok ({p.health_status})"
    else:
        health = f"failing: {p.health_status or ''} {p.health_reason or ''}".strip()
    return {"state": "up" if p.up else "down", "held": held, "health": health,
            "findings": "; ".join(f"{f['code']} {f['message']}" for f in p.findings)}


def live_table(snapshot: Any) -> str:
    out = ['<h2 id="live-state">Live state on this host</h2>',
           f'<p class="meta" id="live-meta">Probed at <span id="probed-at" '
           f'data-time="{snapshot.started:.3f}">{_e(_when(snapshot.started))}</span> in '
           f'{snapshot.duration:.2f} s; host {_e(snapshot.host)}; ledger revision '
           f'{_e(snapshot.revision)}.</p>',
           '<table id="live"><thead><tr><th>service</th><th>port</th><th>protocol</th>'
           "<th>state</th><th>held by</th><th>health</th><th>findings</th></tr></thead><tbody>"]
    for p in snapshot.ports:
        c = cells(p)
        wrong = " wrong" if not p.owner_ok else ""
        bad = " health-bad" if p.health_ok is False else ""
        out.append(f'<tr id="{_e(row_id(p.service, p.name))}" class="{wrong.strip()}">'
                   f"<td>{_e(p.service)}.{_e(p.name)}</td><td class=\"port\">{_e(p.port)}</td>"
                   f"<td>{_e(p.protocol)}</td>"
                   f'<td class="state state-{c["state"]}">{c["state"]}</td>'
                   f'<td class="held">{_e(c["held"])}</td>'
                   f'<td class="health{bad}">{_e(c["health"])}</td>'
                   f'<td class="findings">{_e(c["findings"])}</td></tr>')
    out.append("</tbody></table>")
    return "\n".join(out)


def _when(t: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def html(snapshot: Any, interval: float) -> str:
    """The whole page: the report's port map, the live table, the refreshing script."""
    from portledger.report.portmap import Mark, PortMap, html_page

    if snapshot.ledger is None:
        body = (f"<h1>Port map</h1><p>The ledger cannot be read: {_e(snapshot.error)}</p>")
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>portledger</title></head><body>{body}</body></html>\n")
    ledger = snapshot.ledger
    marks = [Mark(a, [f for f in snapshot.findings if f.service == a.service
                      and f.port is not None and a.start <= f.port <= a.end])
             for a in ledger.allocations()]
    page = html_page(PortMap(ledger, list(snapshot.findings), marks))
    if _REPORT_CSP not in page:
        raise RuntimeError("the report page's Content-Security-Policy changed; "
                           "portledger.serve.page must follow it")
    page = page.replace(_REPORT_CSP, META_CSP, 1)
    page = page.replace("</style>", LIVE_CSS + "</style>", 1)
    live = live_table(snapshot)
    script = (f'<script src="/static/live.js" data-interval="{interval:g}" '
              'id="live-script"></script>')
    return page.replace("\n</body>", f"\n{live}\n{script}\n</body>", 1)


LIVE_JS = r"""
"use strict";
(function () {
  var me = document.getElementById("live-script");
  var every = Math.max(1, parseFloat(me.getAttribute("data-interval")) || 15) * 1000;
  function text(el, value) { if (el && el.textContent !== value) el.textContent = value; }
  function cells(p) {
    var live = p.live, held = "nothing", health = "not asked";
    if (live.holders.length) {
      held = live.holders.map(function (h) {
        return h.description + (h.owner ? "" : " (not the owner)");
      }).join("; ");
    }
    if (live.health) {
      if (live.health.ok === true) health = "ok (" + live.health.status + ")";
      else if (live.health.ok === false)
        health = ("failing: " + (live.health.status || "") + " " +
                  (live.health.reason || "")).replace(/\s+/g, " ").trim();
      else health = "unknown: " + live.health.reason;
    }
    return {state: live.up ? "up" : "down", held: held, health: health,
            findings: live.findings.map(function (f) {
              return f.code + " " + f.message; }).join("; "),
            wrong: !live.owner_ok, bad: live.health && live.health.ok === false};
  }
  function apply(doc) {
    var stamp = document.getElementById("probed-at");
    if (stamp) {
      stamp.setAttribute("data-time", doc.probe.probed_at.toFixed(3));
      text(stamp, new Date(doc.probe.probed_at * 1000).toISOString()
           .replace("T", " ").replace(/\.\d+Z$/, " UTC"));
    }
    doc.ports.forEach(function (p) {
      var row = document.getElementById("live-" + p.service + "-" + p.name);
      if (!row) return;
      var c = cells(p), state = row.querySelector(".state");
      text(state, c.state);
      state.className = "state state-" + c.state;
      text(row.querySelector(".held"), c.held);
      var health = row.querySelector(".health");
      text(health, c.health);
      health.className = "health" + (c.bad ? " health-bad" : "");
      text(row.querySelector(".findings"), c.findings);
      row.className = c.wrong ? "wrong" : "";
    });
  }
  function tick() {
    fetch("/api/v1/ports", {headers: {"Accept": "application/json"}, cache: "no-store"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (doc) { if (doc) apply(doc); })
      .catch(function () {})
      .then(function () { setTimeout(tick, every); });
  }
  setTimeout(tick, every);
})();
"""
