"""``stationmap users``: create and manage district-portal accounts and their API tokens.

Thin click commands over :class:`geo.access.accounts.AccountStore`. Passwords and tokens are
printed once, when made; the accounts file keeps only their argon2id hashes.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from geo.access.permissions import ROLES
from stationmap.options import domain_errors as _domain_errors
from stationmap.table import format_table

accounts_option = click.option(
    "--accounts", "accounts_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
    envvar="STATIONMAP_ACCOUNTS", help="Accounts file [default: data/accounts.json; env STATIONMAP_ACCOUNTS].",
)
store_option = click.option(
    "--store", "store_url", default=None, envvar="STATIONMAP_STORE", metavar="URL",
    help="The store whose accounts these are: postgresql://… keeps them in that database (shared by every "
         "app server); a GeoJSON path or nothing: the accounts file [env STATIONMAP_STORE].",
)
districts_option = click.option(
    "--districts", "districts_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
    envvar="STATIONMAP_DISTRICTS", help="District boundaries GeoJSON [default: data/districts.geojson].",
)


def _store(accounts_path, districts_path=None, with_districts=False, store_url=None):
    from geo.access.accounts import AccountStore, default_accounts_path
    from geo.registry import open_state

    districts = None
    if with_districts:
        from geo.districts import Districts

        districts = Districts.load(districts_path)
    path = accounts_path or default_accounts_path()
    return AccountStore(path, districts=districts, records=open_state(store_url).accounts(path))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def users():
    """Accounts of the district portal: one per district union office, plus planners and admins.

    A fresh install has no account. Passwords and API tokens are shown once, when
    created; the file (data/accounts.json, mode 0600), or the database with
    --store postgresql://…, keeps only their hashes.

    \b
    Examples:
      stationmap users add --role district --district 500103 yuzhong
      stationmap users add --role admin city-admin
      stationmap users list
      stationmap users token issue yuzhong --label "nightly import"
      stationmap users list --store postgresql:///stations
    """


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(list(ROLES)), required=True,
              help="district: edits its own district's stations; planner: reads; admin: everything.")
@click.option("--district", "district_adcode", default=None, metavar="ADCODE",
              help="Six-digit district code, required for (and only for) --role district, e.g. 500103 (渝中区).")
@accounts_option
@store_option
@districts_option
@_domain_errors
def add_user(name, role, district_adcode, accounts_path, districts_path, store_url):
    """Create an account and print its random password once.

    NAME: 2–32 lower-case letters, digits, '.', '_' or '-'. Each district has one
    active account.

    \b
    Example:
      stationmap users add --role district --district 500103 yuzhong
    """
    user, password = _store(accounts_path, districts_path, with_districts=True, store_url=store_url).add(name, role, district_adcode)
    where = f" for district {user.district_adcode}" if user.district_adcode else ""
    click.echo(f"created {user.role} account {user.name!r}{where}")
    click.echo(f"password (shown once, give it to the user over a safe channel): {password}")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print accounts as JSON (no hashes).")
@accounts_option
@store_option
@_domain_errors
def list_users(as_json, accounts_path, store_url):
    """List accounts with role, district, state and number of API tokens.

    \b
    Example:
      stationmap users list --json
    """
    accounts = _store(accounts_path, store_url=store_url).list()
    if as_json:
        click.echo(json.dumps([u.public() for u in accounts], ensure_ascii=False, indent=1))
        return
    if not accounts:
        click.echo("no accounts yet; create one with: stationmap users add --role admin NAME")
        return
    rows = [[u.name, u.role, u.district_adcode or "", "disabled" if u.disabled else "active", len(u.tokens), u.created_at]
            for u in accounts]
    click.echo(format_table(["name", "role", "district", "state", "tokens", "created"], rows, right_align={4}))


@users.command("disable")
@click.argument("name")
@accounts_option
@store_option
@_domain_errors
def disable_user(name, accounts_path, store_url):
    """Stop an account from logging in or using its tokens (ends its web sessions).

    \b
    Example:
      stationmap users disable yuzhong
    """
    _store(accounts_path, store_url=store_url).disable(name)
    click.echo(f"disabled {name!r}")


@users.command("enable")
@click.argument("name")
@accounts_option
@store_option
@_domain_errors
def enable_user(name, accounts_path, store_url):
    """Allow a disabled account again (refused if its district has another active account).

    \b
    Example:
      stationmap users enable yuzhong
    """
    _store(accounts_path, store_url=store_url).enable(name)
    click.echo(f"enabled {name!r}")


@users.command("reset-password")
@click.argument("name")
@accounts_option
@store_option
@_domain_errors
def reset_password(name, accounts_path, store_url):
    """Give an account a new random password, print it once, and end its web sessions.

    \b
    Example:
      stationmap users reset-password yuzhong
    """
    password = _store(accounts_path, store_url=store_url).reset_password(name)
    click.echo(f"new password for {name!r} (shown once): {password}")


@users.group("token")
def token():
    """API tokens for scripts: issue (shown once) and revoke.

    \b
    Examples:
      stationmap users token issue yuzhong --label "nightly import"
      stationmap users token revoke yuzhong --id 3de3e284617d
    """


@token.command("issue")
@click.argument("name")
@click.option("--label", default="", help="What the token is for, e.g. 'nightly import' (at most 80 characters).")
@accounts_option
@store_option
@_domain_errors
def issue_token(name, label, accounts_path, store_url):
    """Issue an API token for NAME and print it once (send it as 'Authorization: Bearer <token>').

    \b
    Example:
      stationmap users token issue yuzhong --label "nightly import"
    """
    value = _store(accounts_path, store_url=store_url).issue_token(name, label=label)
    click.echo(f"token for {name!r} (shown once): {value}")


@token.command("revoke")
@click.argument("name")
@click.option("--id", "token_id", default=None, help="Revoke only this token id (the part after 'smt_'); default: all.")
@accounts_option
@store_option
@_domain_errors
def revoke_token(name, token_id, accounts_path, store_url):
    """Revoke one of NAME's API tokens, or all of them.

    \b
    Examples:
      stationmap users token revoke yuzhong --id 3de3e284617d
      stationmap users token revoke yuzhong
    """
    count = _store(accounts_path, store_url=store_url).revoke_token(name, token_id)
    click.echo(f"revoked {count} token(s) of {name!r}")
