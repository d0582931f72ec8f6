"""The console (CONSOLE.md): the pages the team works in, served by `fsl serve`.

`routes(deps)` gives the Starlette routes that fsl/web/app.py mounts.  The
modules: `sessions` (the signed cookie, the session rows, CSRF tokens),
`limits` (failed logins), `auth` (who is asking, login and logout), `views`
(the Jinja2 environment and the HTML-or-JSON answer), `pages` (tasks,
review, contacts, playbooks).  What a user may see is decided in one place,
fsl/store/sight.py; the pages only ask it.
"""
from __future__ import annotations

from .routes import routes

__all__ = ["routes"]
