"""The console's routes and the plumbing every page shares: who is asking, CSRF, HTML or JSON.

A page is a plain function `page(ctx) -> View | Response`, run in a worker
thread under the app's store lock (the store holds one transaction at a
time), after this module has

* read a POST's form and checked its `csrf_token` against the cookie (403,
  nothing read or changed otherwise);
* resumed the session (none, expired or disabled: 303 to /login, or 401
  for the JSON variant);
* computed the viewer's `Scope` (fsl/store/sight.py), the only way a page
  reads contacts, deals, tasks and reviews.
"""
from __future__ import annotations

import logging
from typing import Any, Callable
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from fsl.store import sight
from fsl.store.users import check_password

from . import limits, pages, sessions
from .context import Ctx
from .sessions import COOKIE, Cookie, Signer
from .views import HERE, Renderer, View, json_response, wants_json

log = logging.getLogger("fsl.console")


Page = Callable[[Ctx], "View | Response"]


class Console:
    def __init__(self, deps: Any) -> None:  # fsl.web.app.Deps (not imported: app imports this module)
        server = deps.config.server
        assert server is not None and server.secret  # app.py refused to start without it
        self.deps = deps
        self.server = server
        self.signer = Signer(server.secret)
        self.renderer = Renderer()
        self.secure = (server.base_url or "").startswith("https://")

    # ------------------------------------------------------------ cookies
    def _set_cookie(self, response: Response, cookie: Cookie) -> Response:
        response.set_cookie(COOKIE, self.signer.dump(cookie), httponly=True, samesite="lax", secure=self.secure,
                            path="/")
        return response

    def _cookie(self, request: Request) -> Cookie | None:
        return self.signer.load(request.cookies.get(COOKIE))

    async def _form(self, request: Request) -> dict[str, str]:
        from ..bodies import read_limited

        body = await read_limited(request, min(self.server.max_body, 200_000))
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "application/json":
            import orjson

            try:
                data = orjson.loads(body) if body else {}
            except orjson.JSONDecodeError:
                return {}
            return {str(k): "" if v is None else str(v) for k, v in data.items()} if isinstance(data, dict) else {}
        pairs = parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True, max_num_fields=100)
        return dict(pairs)

    def _anonymous(self, as_json: bool) -> Response:
        if as_json:
            return json_response({"error": "log in first (POST /login)"}, 401)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    def not_found(self, as_json: bool) -> Response:
        if as_json:
            return json_response({"error": "not found"}, 404)
        return self.renderer.html("not_found.html", {}, 404)

    # ------------------------------------------------------------ pages
    def page(self, handler: Page, methods: tuple[str, ...] = ("GET",)) -> Callable:
        async def endpoint(request: Request) -> Response:
            from ..bodies import BodyError

            as_json = wants_json(request.headers.get("accept", ""))
            cookie = self._cookie(request)
            form: dict[str, str] = {}
            if request.method == "POST":
                try:
                    form = await self._form(request)
                except BodyError as exc:
                    return json_response({"error": exc.reason}, exc.status)
                token = form.get("csrf_token") or request.headers.get("x-csrf-token")
                if not self.signer.csrf_ok(cookie, token):
                    return self._forbidden(as_json)
            if cookie is None or cookie.kind != "session":
                return self._anonymous(as_json)
            session_id = cookie.value

            def work() -> tuple[Ctx | None, View | Response | None]:
                with self.deps.lock:
                    db = self.deps.runtime.db
                    with db.read() as conn:
                        user, write = sessions.resume(conn, session_id, self.server.session_idle)
                        scope = sight.scope_of(conn, user) if user is not None else None
                    if write is not None:
                        with db.write() as conn:
                            (sessions.end if write == "end" else sessions.touch)(conn, session_id)
                    if user is None or scope is None:
                        return None, None
                    ctx = Ctx(user, scope, self.deps.runtime, self.deps.clock(), dict(request.path_params),
                              dict(request.query_params), form, request.method, as_json)
                    return ctx, handler(ctx)

            try:
                ctx, view = await run_in_threadpool(work)
            except Exception as exc:  # noqa: BLE001 - the store failed: say so, no details
                log.error("%s %s: %s", request.method, request.url.path, type(exc).__name__, exc_info=True)
                return json_response({"error": "the store is unavailable; nothing was changed, try again"}, 503)
            if ctx is None or view is None:
                return self._anonymous(as_json)
            if isinstance(view, Response):
                return view
            if view.status == 404:
                return self.not_found(as_json)
            try:
                return self.renderer.answer(view, as_json, self._common(ctx, cookie))
            except Exception as exc:  # noqa: BLE001 - a page that cannot render: logged, never a dropped connection
                log.error("%s %s: cannot render (%s)", request.method, request.url.path, type(exc).__name__,
                          exc_info=True)
                return json_response({"error": "this page cannot be shown; the server log says why"}, 500)

        return endpoint

    def _forbidden(self, as_json: bool) -> Response:
        if as_json:
            return json_response({"error": "missing or wrong csrf_token: nothing was changed"}, 403)
        return self.renderer.html("message.html", {"title": "Forbidden",
                                                    "text": "This form expired or did not come from this site: "
                                                            "nothing was changed. Go back, reload and try again."},
                                  403)

    def _common(self, ctx: Ctx, cookie: Cookie) -> dict[str, Any]:
        return {"viewer": ctx.user, "zone": ctx.user.timezone, "csrf_token": self.signer.csrf(cookie),
                "now": ctx.now}

    # ------------------------------------------------------------ login, logout
    async def login(self, request: Request) -> Response:
        from ..bodies import BodyError

        as_json = wants_json(request.headers.get("accept", ""))
        cookie = self._cookie(request)
        if request.method == "GET":
            fresh = cookie if cookie is not None and cookie.kind == "pre" else Cookie("pre", sessions.new_id())
            return self._login_form(fresh, as_json)
        try:
            form = await self._form(request)
        except BodyError as exc:
            return json_response({"error": exc.reason}, exc.status)
        if not self.signer.csrf_ok(cookie, form.get("csrf_token") or request.headers.get("x-csrf-token")):
            return self._forbidden(as_json)
        assert cookie is not None
        username, password = form.get("username", "").strip(), form.get("password", "")
        address = request.client.host if request.client else "-"

        def work() -> tuple[str, Any]:
            with self.deps.lock:
                with self.deps.runtime.db.write() as conn:
                    wait = limits.locked(conn, username, address)
                    if wait is not None:
                        return "locked", wait
                    user = check_password(conn, username, password) if username and password else None
                    if user is None:
                        limits.failed(conn, username, address)
                        return "wrong", None
                    return "ok", sessions.create(conn, user, address)

        outcome, value = await run_in_threadpool(work)
        if outcome == "locked":
            log.warning("login refused (locked out) for a user name from %s", address)
            minutes = max(1, (value + 59) // 60)
            text = f"Too many failed logins: try again in {minutes} minute(s)."
            return self._login_form(cookie, as_json, text, 429, {"Retry-After": str(value)})
        if outcome == "wrong":
            log.info("login failed from %s", address)
            return self._login_form(cookie, as_json, "Wrong user name or password.", 401)
        log.info("login from %s", address)  # never the name typed or the password
        target = "/tasks"
        response = json_response({"ok": True}) if as_json else RedirectResponse(target, status_code=303)
        return self._set_cookie(response, Cookie("session", value))  # a new id: no session fixation

    def _login_form(self, cookie: Cookie, as_json: bool, error: str | None = None, status: int = 200,
                    headers: dict[str, str] | None = None) -> Response:
        if as_json:
            response = json_response({"csrf_token": self.signer.csrf(cookie), **({"error": error} if error else {})},
                                     status, headers)
        else:
            response = self.renderer.html("login.html", {"csrf_token": self.signer.csrf(cookie), "error": error},
                                          status, headers)
        return self._set_cookie(response, cookie)

    async def logout(self, request: Request) -> Response:
        as_json = wants_json(request.headers.get("accept", ""))
        cookie = self._cookie(request)
        try:
            form = await self._form(request)
        except Exception:  # noqa: BLE001 - an unreadable body carries no token
            form = {}
        if not self.signer.csrf_ok(cookie, form.get("csrf_token") or request.headers.get("x-csrf-token")):
            return self._forbidden(as_json)
        assert cookie is not None
        if cookie.kind == "session":
            def work() -> None:
                with self.deps.lock, self.deps.runtime.db.write() as conn:
                    sessions.end(conn, cookie.value)

            await run_in_threadpool(work)
        response = json_response({"ok": True}) if as_json else RedirectResponse("/login", status_code=303)
        return self._set_cookie(response, Cookie("pre", sessions.new_id()))


def routes(deps: Any) -> list[BaseRoute]:
    """The console's routes over fsl.web.app.Deps (config, runtime, clock, store lock)."""
    console = Console(deps)
    page = console.page
    return [
        Route("/", lambda request: RedirectResponse("/tasks", status_code=303), methods=["GET"]),
        Route("/login", console.login, methods=["GET", "POST"]),
        Route("/logout", console.logout, methods=["POST"]),
        Route("/tasks", page(pages.tasks), methods=["GET"]),
        Route("/tasks/{task_id:int}/done", page(pages.task_done), methods=["GET", "POST"]),
        Route("/tasks/{task_id:int}/snooze", page(pages.task_snooze), methods=["GET", "POST"]),
        Route("/review", page(pages.review), methods=["GET"]),
        Route("/review/{review_id:int}/{verb:str}", page(pages.review_decide), methods=["POST"]),
        Route("/contacts/{contact_id:path}", page(pages.contact), methods=["GET"]),
        Route("/playbooks", page(pages.playbooks), methods=["GET"]),
        Route("/users", page(pages.users), methods=["GET", "POST"]),
        Route("/users/{name:str}/disable", page(pages.user_disable), methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="console-static"),
    ]
