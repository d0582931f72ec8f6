"""`fsl users add|list|disable` (CONSOLE.md): the people who log in to the console.

    fsl users add NAME --role rep|manager|admin [--team T] [--owner-id ID] [--timezone ZONE]
                  [--email ADDR] [--display-name N] [--phone P] [--signature S] [--password-stdin]
    fsl users list [--format json]
    fsl users disable NAME

The password is asked twice at a terminal, or read as one line (without its
newline) from standard input with `--password-stdin`; it is never an
argument (it would show in `ps` and shell history).  Exit codes: 0 done,
1 refused (duplicate name, unknown user), 2 bad usage.
"""
from __future__ import annotations

import sys
from zoneinfo import ZoneInfo

import click

from .common import CONFIG_OPTION, FORMAT_OPTION, console, fail, open_runtime, print_json


@click.group("users")
def users_command() -> None:
    """The console's users: add, list, disable."""


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@users_command.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["rep", "manager", "admin"]), required=True)
@click.option("--team", help="the team (a manager sees the reps of their team)")
@click.option("--owner-id", "owner_id", help="what contacts' `owner` and tasks' assignee hold (default: NAME)")
@click.option("--timezone", "zone", help="the zone times are shown in (default: the project's)")
@click.option("--email", help="the address messages `from: owner` are sent as")
@click.option("--display-name", "display_name", help="the name people see (default: NAME)")
@click.option("--phone", help="for templates: owner.phone")
@click.option("--signature", help="for templates: owner.signature")
@click.option("--password-stdin", "password_stdin", is_flag=True, help="read the password from standard input")
@CONFIG_OPTION
def users_add(name: str, role: str, team: str | None, owner_id: str | None, zone: str | None, email: str | None,
              display_name: str | None, phone: str | None, signature: str | None, password_stdin: bool,
              config_path: str | None) -> None:
    """Add a user (asks for the password)."""
    from fsl.store.users import UserError, add

    if zone is not None:
        try:
            ZoneInfo(zone)
        except Exception:  # noqa: BLE001 - any failure: not a zone this machine knows
            fail(f"fsl users add: --timezone: unknown time zone {zone!r} (e.g. Europe/Paris)")
    password = _password(password_stdin)
    if not password:
        fail("fsl users add: an empty password is refused")
    rt = open_runtime(config_path)
    try:
        with rt.db.write() as conn:
            user = add(conn, name, password, role=role, timezone=zone or rt.config.timezone, team=team,
                       owner_id=owner_id, email=email, display_name=display_name, phone=phone,
                       signature=signature)
    except UserError as exc:
        fail(f"fsl users add: {exc}", 1)
    finally:
        rt.close()
    click.echo(f"added {user.role} {user.name} (owner id {user.owner_id}, times in {user.timezone})")


@users_command.command("list")
@FORMAT_OPTION
@CONFIG_OPTION
def users_list(fmt: str, config_path: str | None) -> None:
    """The users, with their role, team, owner id and zone."""
    from rich.table import Table

    from fsl.store.users import listing

    rt = open_runtime(config_path)
    try:
        with rt.db.read() as conn:
            found = listing(conn)
    finally:
        rt.close()
    if fmt == "json":
        print_json([u.public() for u in found])
        return
    table = Table(title=f"{len(found)} user(s)", title_justify="left")
    for col in ("name", "role", "team", "owner id", "timezone", "email", "state"):
        table.add_column(col)
    for u in found:
        table.add_row(u.name, u.role, u.team or "", u.owner_id, u.timezone, u.email or "",
                      "disabled" if u.disabled else "active")
    console().print(table)


@users_command.command("disable")
@click.argument("name")
@CONFIG_OPTION
def users_disable(name: str, config_path: str | None) -> None:
    """Disable a user: no more logins; their open sessions end at their next request."""
    from fsl.store.users import UserError, disable

    rt = open_runtime(config_path)
    try:
        with rt.db.write() as conn:
            changed = disable(conn, name)
    except UserError as exc:
        fail(f"fsl users disable: {exc}", 1)
    finally:
        rt.close()
    click.echo(f"disabled {name}" if changed else f"{name} was already disabled")
