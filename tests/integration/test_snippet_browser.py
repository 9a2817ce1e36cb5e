"""/js/millimetric.js in a real browser (Debian's headless Chromium) against the real stack.

A page on news.example.org sends the visitor to a landing page on shop.example.com with UTM and
click-id parameters; the landing page loads the snippet from the gateway, which records the page
view, then calls `millimetric.track("signup", …)` and moves on to a second page. Chromium maps both
names to 127.0.0.1 (`--host-resolver-rules`; every other name fails to resolve), so nothing leaves
the machine, and the pages are cross-origin to the gateway as on a real site. The test then reads
PostgreSQL: three events of one anonymous visitor, attributed to facebook / paid.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from millimetric.embedded import free_port

from tests.support.accounts import create_account
from tests.support.mcp_http import poll
from tests.support.stack import Stack
from tests.support.tracking import visitor_events

CHROMIUM = Path("/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's chromium is not installed (/usr/bin/chromium): `apt-get install chromium`, or run `make test` as root",
)
SHOP, NEWS = "shop.example.com", "news.example.org"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage")


@dataclass
class Site:
    """The customer's pages, served on 127.0.0.1 under two host names; `reports` is what they posted back."""

    port: int
    reports: list[dict[str, Any]] = field(default_factory=list)

    def url(self, host: str, path: str) -> str:
        return f"http://{host}:{self.port}{path}"


def _page(title: str, gateway: str, pk: str, body: str) -> str:
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<script src="{gateway}/js/millimetric.js" data-key="{pk}" defer></script></head>
<body><h1>{title}</h1><script>{body}</script></body></html>"""


def site_app(site: Site, gateway: str, pk: str, run: str) -> web.Application:
    landing_query = "?utm_source=facebook&utm_medium=cpc&utm_campaign=spring&fbclid=fb-" + run
    report = ("function report(data, then) { fetch('/report', {method: 'POST', body: JSON.stringify(data)})"
              ".then(then || function () {}); }")

    async def article(request: web.Request) -> web.Response:
        html = f"<!doctype html><title>News</title><script>location.href = {json.dumps(site.url(SHOP, '/landing' + landing_query))};</script>"
        return web.Response(text=html, content_type="text/html")

    async def landing(request: web.Request) -> web.Response:
        script = report + """
window.addEventListener("load", function () {
  millimetric.track("signup", {plan: "pro", run: RUN});
  report({page: "landing", cookie: document.cookie, aid: localStorage.getItem("millimetric_aid"),
          api: typeof millimetric.track}, function () { location.href = "/second"; });
});""".replace("RUN", json.dumps(run))
        return web.Response(text=_page("Landing", gateway, pk, script), content_type="text/html")

    async def second(request: web.Request) -> web.Response:
        script = report + """
window.addEventListener("load", function () { report({page: "second", aid: localStorage.getItem("millimetric_aid")}); });"""
        return web.Response(text=_page("Second", gateway, pk, script), content_type="text/html")

    async def collect(request: web.Request) -> web.Response:
        site.reports.append(json.loads(await request.read()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_get("/article", article)
    app.router.add_get("/landing", landing)
    app.router.add_get("/second", second)
    app.router.add_post("/report", collect)
    return app


@contextlib.asynccontextmanager
async def serve(app: web.Application, port: int) -> AsyncIterator[None]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield
    finally:
        await runner.cleanup()


@contextlib.contextmanager
def chromium(url: str, log_path: Path) -> Any:
    """Headless Chromium on `url` until the block ends (then terminated, its profile removed)."""
    profile = tempfile.mkdtemp(prefix="millimetric-chromium-")
    rules = f"MAP {SHOP} 127.0.0.1, MAP {NEWS} 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                                    f"--host-resolver-rules={rules}", url],
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(profile, ignore_errors=True)


@pytest_asyncio.fixture(loop_scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@needs_chromium
async def test_page_view_and_custom_event_arrive_with_attribution_from_a_real_browser(
        stack: Stack, tmp_path: Path) -> None:
    project = (await create_account(stack.dsn, "free", domains=("example.com",))).projects[0]  # tracking works on every plan
    run = uuid.uuid4().hex[:10]
    site = Site(free_port())
    async with serve(site_app(site, stack.gateway_url, project.pk, run), site.port):
        with chromium(site.url(NEWS, "/article"), tmp_path / "chromium.log") as browser:
            async def reported() -> bool:
                if browser.poll() is not None:
                    raise AssertionError(f"chromium exited: {(tmp_path / 'chromium.log').read_text(errors='replace')[-2000:]}")
                return {r["page"] for r in site.reports} >= {"landing", "second"}

            await poll(reported, deadline_s=60, interval_s=0.2)
            pages = {r["page"]: r for r in site.reports}
            visitor = pages["landing"]["aid"]
            assert visitor and pages["second"]["aid"] == visitor  # one anonymous id, kept in localStorage across pages
            assert pages["landing"]["cookie"] == ""  # no cookies
            assert pages["landing"]["api"] == "function"

            async def three_events() -> list[dict[str, Any]] | None:
                rows = await visitor_events(stack.dsn, project.project_id, visitor)
                return rows if len(rows) >= 3 else None

            rows = await poll(three_events, deadline_s=30, interval_s=0.2)

    assert len(rows) == 3, rows
    views = [r for r in rows if r["event"] == "page_view"]
    [signup] = [r for r in rows if r["event"] == "signup"]
    [landing] = [r for r in views if r["properties"]["path"] == "/landing"]
    [second] = [r for r in views if r["properties"]["path"] == "/second"]
    landing_url = site.url(SHOP, "/landing")

    props = landing["properties"]
    assert props["url"].startswith(landing_url + "?utm_source=facebook")
    assert props["title"] == "Landing"
    assert props["referrer"] == site.url(NEWS, "/")  # cross-origin: the browser sends the origin only
    assert {k: props[k] for k in ("utm_source", "utm_medium", "utm_campaign", "fbclid")} == {
        "utm_source": "facebook", "utm_medium": "cpc", "utm_campaign": "spring", "fbclid": "fb-" + run}
    assert signup["properties"]["plan"] == "pro" and signup["properties"]["run"] == run
    assert signup["properties"]["url"] == props["url"]
    assert second["properties"]["referrer"] == props["url"]
    for row in rows:
        assert (row["source"], row["medium"]) == ("facebook", "paid"), row  # the second page inherits its session's
        assert row["campaign"] == "spring"
        assert row["anonymous_id"] == visitor and row["user_id"] is None
        assert row["context"]["library"] == "millimetric.js"
        assert row["context"]["ip"] == "127.0.0.0"
        assert "Chrome" in row["context"]["user_agent"]


async def test_the_snippet_is_served_small_cacheable_and_cross_origin(stack: Stack, http: aiohttp.ClientSession) -> None:
    url = stack.gateway_url + "/js/millimetric.js"
    async with http.get(url) as resp:
        body = await resp.read()
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/javascript")
        assert "max-age=" in resp.headers["Cache-Control"] and "public" in resp.headers["Cache-Control"]
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        etag = resp.headers["ETag"]
    assert 1024 < len(body) < 8 * 1024
    assert b"sendBeacon" in body
    async with http.get(url, headers={"If-None-Match": etag}) as resp:
        assert resp.status == 304
    async with http.head(url) as resp:
        assert resp.status == 200


@needs_chromium
async def test_chromium_runs_headless_here(tmp_path: Path) -> None:
    """A smoke check of the browser itself, so a broken install fails clearly rather than as a timeout."""
    result = await asyncio.to_thread(
        subprocess.run, [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                         "data:text/html,<p id=x></p><script>x.textContent=typeof navigator.sendBeacon</script>"],
        capture_output=True, timeout=120)
    assert b"function" in result.stdout, result.stderr[-2000:]
