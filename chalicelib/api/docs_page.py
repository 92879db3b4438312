"""Serving the API's own description: the OpenAPI document and an offline docs page."""
from __future__ import annotations

import functools
from typing import Any



@functools.lru_cache(maxsize=1)
def _spec_of(app_id: int, app: Any) -> dict[str, Any]:
    from chalicelib.core.openapi import build

    return build(app)


def openapi_spec(app: Any) -> dict[str, Any]:
    """Built once per container, on the first request that asks for it."""
    return _spec_of(id(app), app)


# A self-contained page (no CDN, no external assets): it reads ./openapi.json and lists every
# operation with its parameters, body and responses.
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shop API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d2330;background:#f7f8fa}
header{background:#1d2330;color:#fff;padding:1rem 2rem}main{padding:1rem 2rem;max-width:70rem}
details{background:#fff;border:1px solid #dde1e8;border-radius:6px;margin:.4rem 0;padding:.4rem .8rem}
summary{cursor:pointer}code,pre{font:13px/1.4 ui-monospace,monospace}pre{background:#f1f3f6;padding:.6rem;overflow:auto}
.m{display:inline-block;min-width:4.5rem;font-weight:600}.GET{color:#0a7}.POST{color:#07c}.PUT{color:#a60}
.PATCH{color:#a0a}.DELETE{color:#c22}.sec{color:#666;font-size:13px}h2{margin-top:1.5rem}
</style></head><body><header><h1>Shop API</h1><p id="d"></p></header><main id="ops">Loading…</main>
<script>
fetch("openapi.json").then(r => r.json()).then(spec => {
  document.getElementById("d").textContent = spec.info.description || "";
  const main = document.getElementById("ops"); main.textContent = "";
  const resolve = s => { while (s && s.$ref) { s = spec.components.schemas[s.$ref.split("/").pop()]; } return s; };
  const groups = {};
  for (const [path, ops] of Object.entries(spec.paths))
    for (const [method, op] of Object.entries(ops)) (groups[op.tags[0]] ||= []).push([path, method, op]);
  for (const [tag, ops] of Object.entries(groups)) {
    const h = document.createElement("h2"); h.textContent = tag; main.appendChild(h);
    for (const [path, method, op] of ops) {
      const d = document.createElement("details"); const s = document.createElement("summary");
      const m = document.createElement("span"); m.className = "m " + method.toUpperCase();
      m.textContent = method.toUpperCase(); s.appendChild(m);
      const c = document.createElement("code"); c.textContent = path; s.appendChild(c);
      s.appendChild(document.createTextNode(" — " + op.summary + " "));
      const sec = document.createElement("span"); sec.className = "sec";
      sec.textContent = op.security.length ? "(" + Object.keys(op.security[0])[0] + ")" : "(public)";
      s.appendChild(sec); d.appendChild(s);
      const add = (title, value) => { if (!value) return; const b = document.createElement("p");
        b.textContent = title; d.appendChild(b); const pre = document.createElement("pre");
        pre.textContent = JSON.stringify(value, null, 2); d.appendChild(pre); };
      add("Parameters", op.parameters.length ? op.parameters : null);
      add("Request body", op.requestBody && resolve(op.requestBody.content["application/json"].schema));
      for (const [code, r] of Object.entries(op.responses))
        add("Response " + code + " — " + r.description, r.content && resolve(r.content["application/json"].schema));
      main.appendChild(d);
    }
  }
}).catch(e => { document.getElementById("ops").textContent = "Could not load openapi.json: " + e; });
</script></body></html>
"""


def docs_page() -> str:
    return _PAGE
