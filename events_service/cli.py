"""The `events-service` command: key pairs for the companies that use this service.

    events-service credentials create --company NAME [--user NAME]   new pair, printed once
    events-service credentials default                                first pair of the default company
    events-service credentials list [--company NAME]                  access keys (never secrets)
    events-service credentials revoke ACCESS_KEY                      refuse the key from now on
    events-service storage | retention ...                            see events_service/storage_cli.py
    events-service compact [--task ID] [--age N] [--whole]            see events_service/compaction_cli.py

The database is the service's own (EVENTS_DATABASE_URL, as for the server). Secrets are shown
only when created: the database keeps a hash of them (events_service/auth.py).
"""
from __future__ import annotations

import argparse
import sys
import uuid
from typing import Sequence, TextIO

from sqlalchemy.orm import Session

from events_service import auth, compaction_cli, config, storage_cli
from events_service.db.queries import credentials, tenants
from events_service.db.session import make_engine

DEFAULT_API_HOST = "http://127.0.0.1:8008"


def create_pair(session: Session, company: tenants.Company, user_name: str = "") -> tuple[str, str]:
    """A new (access key, secret) for the company; only the secret's hash is stored."""
    access_key, secret = auth.new_access_key(), auth.new_secret_key()
    credentials.create(session, company.key, access_key, auth.hash_secret(secret), user_id=uuid.uuid4().hex,
                       user_name=user_name)
    return access_key, secret


def _company(session: Session, ref: str, default_id: str) -> tenants.Company:
    """The company named (or with id) `ref`, created with a new id when there is none.

    "default" is the embedded default company (config DEFAULT_COMPANY), whatever its row's name.
    """
    if ref == "default":
        return tenants.ensure_company(session, default_id, "default")
    return tenants.find_company(session, ref) or tenants.ensure_company(session, uuid.uuid4().hex, ref)


def hosts(api_host: str) -> str:
    """The SDK's server variables (no secret in them): the API, and its files store at /files."""
    return (f"export CLEARML_API_HOST={api_host}\n"
            f"export CLEARML_WEB_HOST={api_host}\n"
            "# debug images, media, artifacts and models go to this service's files store:\n"
            f"export CLEARML_FILES_HOST={api_host}/files\n")


def print_pair(out: TextIO, company: tenants.Company, access_key: str, secret: str, api_host: str) -> None:
    out.write(
        f"New credentials for company {company.name or company.id!r} (id {company.id}).\n"
        "The secret key is shown only now; the server keeps only its hash.\n\n"
        "# for the clearml SDK (or put them in clearml.conf, api.credentials):\n"
        f"{hosts(api_host)}"
        f"export CLEARML_API_ACCESS_KEY={access_key}\n"
        f"export CLEARML_API_SECRET_KEY={secret}\n")


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="events-service", description=__doc__.splitlines()[0])
    parser.add_argument("--database-url",
                        help="SQLAlchemy URL (default: EVENTS_DATABASE_URL or the local cluster)")
    commands = parser.add_subparsers(dest="group", required=True)
    creds = commands.add_parser("credentials", help="manage access keys")
    creds = creds.add_subparsers(dest="command", required=True)
    create = creds.add_parser("create",
                              help="create a key pair for a company (created when new) and print it")
    create.add_argument("--company", required=True, help="company name (or id)")
    create.add_argument("--user", default="", help="user name recorded with the pair")
    create.add_argument("--api-host", default=DEFAULT_API_HOST, help="URL printed for CLEARML_API_HOST")
    default = creds.add_parser("default", help="create the default company's first pair unless it has one")
    default.add_argument("--api-host", default=DEFAULT_API_HOST, help="URL printed for CLEARML_API_HOST")
    listing = creds.add_parser("list", help="list access keys")
    listing.add_argument("--company", help="only this company (name or id)")
    revoke = creds.add_parser("revoke", help="refuse an access key from now on")
    revoke.add_argument("access_key")
    storage_cli.add_commands(commands)
    compaction_cli.add_commands(commands)
    args = parser.parse_args(argv)

    settings = config.load()
    engine = make_engine(args.database_url or settings["DATABASE_URL"], pool_size=1,
                         transaction_pooling=settings["TRANSACTION_POOLING"])
    try:
        with Session(bind=engine) as session, session.begin():
            return _run(args, session, settings, out)
    finally:
        engine.dispose()


def _run(args: argparse.Namespace, session: Session, settings: dict, out: TextIO) -> int:
    done = storage_cli.run(args, session, out)
    if done is None:
        done = compaction_cli.run(args, session, out)
    if done is not None:
        return done
    if args.command == "create":
        company = _company(session, args.company, settings["DEFAULT_COMPANY"])
        print_pair(out, company, *create_pair(session, company, args.user), api_host=args.api_host)
    elif args.command == "default":
        company = tenants.ensure_company(session, settings["DEFAULT_COMPANY"], "default")
        existing = credentials.list_all(session, company.key)
        if any(c.revoked is None for c in existing):
            keys = ", ".join(c.access_key for c in existing if c.revoked is None)
            out.write(f"The default company already has credentials (access keys: {keys}); "
                      "their secrets were shown when created.\n"
                      "A new pair: events-service credentials create --company default\n"
                      "# for the clearml SDK, with the access and secret key of a pair:\n"
                      f"{hosts(args.api_host)}")
        else:
            print_pair(out, company, *create_pair(session, company, "default"), api_host=args.api_host)
    elif args.command == "list":
        company = tenants.find_company(session, args.company) if args.company else None
        if args.company and company is None:
            out.write(f"no company {args.company!r}\n")
            return 1
        for c in credentials.list_all(session, company.key if company else None):
            state = f"revoked {c.revoked:%Y-%m-%d %H:%M}" if c.revoked else "active"
            out.write(f"{c.access_key}  company={c.company_name or c.company_id}  "
                      f"user={c.user_name or c.user_id}  created={c.created:%Y-%m-%d %H:%M}  {state}\n")
    elif args.command == "revoke":
        if not credentials.revoke(session, args.access_key):
            out.write(f"no active access key {args.access_key}\n")
            return 1
        out.write(f"revoked {args.access_key}; tokens issued for it stay valid until they expire\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
