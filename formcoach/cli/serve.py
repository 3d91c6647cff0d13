"""``formcoach serve``: the PT workspace in the browser (:mod:`formcoach.serve`), on the
loopback address and a random free port by default, behind a per-launch access token."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import secrets
import socket
import sys
from pathlib import Path

from formcoach.errors import BackendUnavailable, InputError
from formcoach.io_utils import display_path

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``serve`` subcommand."""
    p = subparsers.add_parser(
        "serve",
        help="the PT workspace: patients, prescriptions, adherence and sets in the browser",
        description="Serve the PT workspace over the session database: patients and their "
        "prescriptions, adherence, ROM against target, and each set's video linked to its reps "
        "and faults. It listens on 127.0.0.1 only (unless --host), on a random free port, and "
        "every request needs the access token in the printed URL.",
    )
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; anything else is reachable "
                        "from other machines: a warning is printed)")
    p.add_argument("--port", type=int, default=0,
                   help="port (default 0: a random free port)")
    p.add_argument("--no-browser", action="store_true", help="do not open the browser")
    p.add_argument("--db", metavar="PATH", type=Path, default=None,
                   help="session database (default: $FORMCOACH_DB or the user data dir)")
    p.set_defaults(func=run)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: the kernel picks a free one).

    Raises:
        InputError: the address cannot be bound (in use, not this machine's, bad port).
    """
    if not 0 <= port <= 65535:
        raise InputError(f"--port must be in 0..65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise InputError(f"--host {host!r}: {e.strerror}") from None
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(64)
    except OSError as e:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    return sock


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from formcoach.serve.app import create_app
    except ImportError as e:
        raise BackendUnavailable(f"formcoach serve needs the web extra ({e.name} is missing): "
                                 "pip install 'formcoach[serve]'") from None
    from formcoach.store import default_db_path

    db = args.db if args.db is not None else default_db_path()
    token = secrets.token_urlsafe(24)
    app = create_app(db, token)
    sock = bind_socket(args.host, args.port)
    port = sock.getsockname()[1]
    if not is_loopback(args.host):
        print(f"formcoach: warning: listening on {args.host}, reachable from other machines; "
              "patient data is protected only by the token in the URL (and not encrypted)",
              file=sys.stderr)
    shown = args.host if ":" not in args.host else f"[{args.host}]"
    url = f"http://{shown}:{port}/?token={token}"
    print(f"formcoach workspace on {url}", flush=True)
    print(f"database {display_path(db)}; Ctrl-C stops it", file=sys.stderr)
    if not args.no_browser:
        import webbrowser

        try:
            webbrowser.open(url)
        except Exception as e:  # no browser: the URL is printed
            log.info("could not open a browser: %s", e)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            server_header=False)
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0
