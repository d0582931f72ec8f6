"""`fsl serve [--listen HOST:PORT]` (CLI.md, SIGNALS.md): the HTTP service of tracking and events.

Runs the Starlette app (fsl/web/app.py) on uvicorn.  SIGTERM (or Ctrl-C)
stops accepting connections and finishes the requests in flight, then the
process exits 0.  The client address is taken from `X-Forwarded-For` only
when the direct peer is one of `--forwarded-allow-ips` /
`server.forwarded_allow_ips` (uvicorn's proxy-headers check).  Uvicorn's
access log is off: a request line would carry the token; the app logs one
line per request without it (`--no-access-log`: only refused requests).
"""
from __future__ import annotations

import logging
import signal
from datetime import datetime, timezone

import click

from .common import CONFIG_OPTION, fail, open_runtime


@click.command("serve")
@click.option("--listen", metavar="HOST:PORT", help="where to listen (default: server.listen, else 127.0.0.1:8080)")
@click.option("--forwarded-allow-ips", "allow_ips", metavar="IP,...",
              help="proxies whose X-Forwarded-For is trusted (default: server.forwarded_allow_ips)")
@click.option("--access-log/--no-access-log", default=True, show_default=True,
              help="log a line per answered request (refused ones are always logged; /metrics counts all)")
@CONFIG_OPTION
def serve_command(listen: str | None, allow_ips: str | None, access_log: bool, config_path: str | None) -> None:
    """Serve tracking links, the open pixel, unsubscribe, POST /hooks/events, /healthz and /metrics."""
    import uvicorn

    from fsl.server_settings import split_listen
    from fsl.web.app import Deps, build_app

    runtime = open_runtime(config_path)
    server = runtime.config.server
    if server is None or not server.secret:
        runtime.close()
        fail("fsl serve: set `server.secret` in fsl.yaml (e.g. secret: ${FSL_SERVER_SECRET}): it signs tracking links")
    try:
        host, port = split_listen(listen or server.listen)
    except ValueError as exc:
        runtime.close()
        fail(f"fsl serve: --listen: {exc}")
    trusted = [ip.strip() for ip in allow_ips.split(",") if ip.strip()] if allow_ips is not None \
        else list(server.forwarded_allow_ips)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        app = build_app(Deps(runtime.config, runtime, lambda: datetime.now(timezone.utc), access_log=access_log))
    except ValueError as exc:  # e.g. the machine lists file (server.machine.lists), with its line and column
        runtime.close()
        fail(f"fsl serve: {exc}")
    config = uvicorn.Config(app, host=host, port=port, access_log=False, log_config=None,
                            proxy_headers=bool(trusted), forwarded_allow_ips=trusted or None,
                            timeout_graceful_shutdown=30)
    click.echo(f"fsl serve: listening on http://{host}:{port} (SIGTERM finishes requests in flight)", err=True)
    # uvicorn finishes the requests in flight, then raises the signal again with the handlers it
    # found: these make that a clean exit (status 0), as `fsl worker` does, not a death by SIGTERM
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    from fsl.engine.gcpolicy import freeze_for_serving

    freeze_for_serving()
    try:
        uvicorn.Server(config).run()
    finally:
        runtime.close()
