"""Who may use the dashboard.

On a loopback address (127.0.0.1, the default in `.streamlit/config.toml`) only this machine's
users can connect, so no login is asked. Bound to any other address (or with
`SEEDBED_REQUIRE_LOGIN=1`, e.g. behind a reverse proxy), every page asks for a login first:
Streamlit's OIDC `st.login` when `.streamlit/secrets.toml` has an `[auth]` section, otherwise a
name and password checked against `[seedbed.users]` (name = salted scrypt hash, made by
`python -m engine.auth NAME`). With neither, the dashboard refuses to serve, in one line.

A password login is not the Streamlit session id: it is a signed, expiring token (HMAC-SHA256
with a per-process server secret, `LoginTokens`) bound to the browser's XSRF cookie, so a session
id replayed from another client (it shows in upload URLs) finds no login. Wrong passwords are
throttled per account and per client address across all sessions (`Throttle`: a lockout after
a few failures, the right password included), and every attempt is one line in
`seedbed-auth.log` beside the workspace file (`audit`).

`python -m engine.auth NAME` asks for a password (twice; or reads one line from stdin when not a
terminal) and prints the `NAME = "scrypt$..."` line to paste under `[seedbed.users]`.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import ipaddress
import os
import secrets
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from dataclasses import dataclass, field

from engine.errors import UserError
from engine.user_text import check_name

FORCE_ENV = "SEEDBED_REQUIRE_LOGIN"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # ~50 ms and 16 MiB per check: slow to brute-force
_HASH_LEN = 32


def is_loopback(address: str | None) -> bool:
    """True when a server bound to `address` is reachable from this machine only. Streamlit's
    empty default binds every interface; a host name other than localhost counts as shared."""
    address = (address or "").strip()
    if address.startswith("unix://"):
        return True  # a socket file: reachable by local users with permission on it
    if address.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def login_forced() -> bool:
    return os.environ.get(FORCE_ENV, "").strip().lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class LoginPlan:
    """How a page admits a browser: mode "none" (local), "oidc" or "password"."""
    mode: str
    providers: tuple[str | None, ...] = ()  # OIDC: None for a single provider set in [auth]
    users: Mapping[str, str] = field(default_factory=dict)  # password: name -> stored hash


def login_plan(address: str | None, secrets_: Mapping, forced: bool = False) -> LoginPlan:
    """The login the server at `address` needs, from the secrets (a mapping of secrets.toml);
    UserError (one line) when it is shared and neither kind of login is configured."""
    if is_loopback(address) and not forced:
        return LoginPlan("none")
    oidc = secrets_.get("auth")
    if isinstance(oidc, Mapping) and oidc:
        if importlib.util.find_spec("authlib") is None:
            raise UserError("the [auth] (OIDC) login in .streamlit/secrets.toml needs Authlib: pip install Authlib")
        named = tuple(k for k, v in oidc.items() if isinstance(v, Mapping))
        return LoginPlan("oidc", providers=(None,) if "client_id" in oidc or not named else named)
    users = (secrets_.get("seedbed") or {}).get("users") or {}
    if users:
        for name, stored in users.items():
            check_name("login name", name)
            _parse(stored, name)
        return LoginPlan("password", users=dict(users))
    where = f"on {address}" if address else "on every network interface"
    raise UserError(f"refusing to serve the dashboard {where} without a login: add users to [seedbed.users] "
                    "(python -m engine.auth NAME) or an OIDC [auth] section to .streamlit/secrets.toml, "
                    "or bind to 127.0.0.1")


def hash_password(password: str, salt: bytes | None = None) -> str:
    """`scrypt$n$r$p$salt$hash` (base64) of `password` with a fresh 16-byte salt."""
    if not password:
        raise UserError("the password is empty")
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=_HASH_LEN, **_SCRYPT)
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt)}${b64(digest)}"


def _parse(stored: str, name: str = "") -> tuple[dict, bytes, bytes]:
    try:
        kind, n, r, p, salt, digest = str(stored).split("$")
        if kind != "scrypt":
            raise ValueError
        return {"n": int(n), "r": int(r), "p": int(p)}, base64.b64decode(salt), base64.b64decode(digest)
    except ValueError:
        raise UserError(f"[seedbed.users] {name}: not a hash from `python -m engine.auth {name or 'NAME'}`") from None


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches the stored hash (constant-time compare)."""
    params, salt, digest = _parse(stored)
    trial = hashlib.scrypt((password or "").encode(), salt=salt, dklen=len(digest), maxmem=2**26, **params)
    return hmac.compare_digest(trial, digest)


_DUMMY = hash_password("not a password", b"0" * 16)


def check_login(plan: LoginPlan, name: str, password: str) -> str | None:
    """The login name when `name`/`password` match a configured user, else None. An unknown
    name costs the same hash as a known one, so timing does not tell which names exist."""
    stored = plan.users.get((name or "").strip())
    ok = verify_password(password, stored or _DUMMY)
    return (name or "").strip() if stored and ok else None


class LoginTokens:
    """Signed, expiring login tokens: `user.expiry.signature`, the signature an HMAC of the user,
    the expiry and the client binding (the browser's XSRF cookie) under a secret that never
    leaves the server process. Restarting the server ends every login."""

    def __init__(self, secret: bytes | None = None, ttl_s: float = 8 * 3600):
        self.secret, self.ttl_s = secret or secrets.token_bytes(32), ttl_s

    def _sign(self, user: str, expiry: int, binding: str) -> str:
        message = f"{user}\0{expiry}\0{binding}".encode()
        return base64.urlsafe_b64encode(hmac.new(self.secret, message, hashlib.sha256).digest()).decode().rstrip("=")

    def issue(self, user: str, binding: str, now: float | None = None) -> str:
        expiry = int((time.time() if now is None else now) + self.ttl_s)
        name = base64.urlsafe_b64encode(user.encode()).decode()
        return f"{name}.{expiry}.{self._sign(user, expiry, binding)}"

    def verify(self, token: str | None, binding: str, now: float | None = None) -> str | None:
        """The user of a valid, unexpired token issued for this binding, else None."""
        try:
            name, expiry, signature = str(token or "").split(".")
            user, expiry_s = base64.urlsafe_b64decode(name.encode()).decode(), int(expiry)
        except (ValueError, UnicodeDecodeError):
            return None
        if expiry_s < (time.time() if now is None else now):
            return None
        return user if hmac.compare_digest(signature, self._sign(user, expiry_s, binding)) else None


class Throttle:
    """Failed logins per key ("account:NAME", "address:IP") in a sliding window; a key with
    `limit` failures within `window_s` is locked for `lock_s` (every session of the server shares
    one Throttle, so opening more sessions does not buy more tries)."""

    def __init__(self, account_limit: int = 5, address_limit: int = 20, window_s: float = 900, lock_s: float = 900):
        self.limits = {"account": account_limit, "address": address_limit}
        self.window_s, self.lock_s = window_s, lock_s
        self.failures: dict[str, list[float]] = {}
        self.locked_until: dict[str, float] = {}
        self.lock = threading.Lock()

    def wait_s(self, keys: list[str], now: float | None = None) -> float:
        """Seconds until every key may try again (0: not locked)."""
        now = time.monotonic() if now is None else now
        with self.lock:
            return max([self.locked_until.get(k, 0) - now for k in keys] + [0.0])

    def fail(self, keys: list[str], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self.lock:
            for key in keys:
                recent = [t for t in self.failures.get(key, []) if now - t < self.window_s] + [now]
                self.failures[key] = recent
                if len(recent) >= self.limits[key.split(":", 1)[0]]:
                    self.locked_until[key], self.failures[key] = now + self.lock_s, []

    def succeed(self, keys: list[str]) -> None:
        with self.lock:
            for key in keys:
                self.failures.pop(key, None)


def throttle_keys(name: str, address: str | None) -> list[str]:
    return [f"account:{(name or '').strip().lower()}"] + ([f"address:{address}"] if address else [])


AUDIT_LOG = "seedbed-auth.log"


def audit(folder: str | Path, event: str, name: str, address: str | None) -> None:
    """Append one line (UTC time, event, login name as a quoted literal, client address) to the
    audit log in `folder`; a log that cannot be written is reported on stderr, not raised."""
    from engine.user_text import shown  # noqa: PLC0415

    line = f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {event} user={shown(name, 60)} " \
           f"address={address or 'unknown'}\n"
    try:
        with open(Path(folder) / AUDIT_LOG, "a", encoding="utf-8") as f:
            f.write(line)
    except OSError as exc:
        print(f"[seedbed] login audit line not written ({exc.strerror}): {line.strip()}", file=sys.stderr)


def main(argv: list[str]) -> int:
    import getpass

    if len(argv) != 1 or argv[0].startswith("-"):
        print("usage: python -m engine.auth NAME  (prints the line for [seedbed.users])", file=sys.stderr)
        return 2
    try:
        name = check_name("login name", argv[0])
        if sys.stdin.isatty():
            password = getpass.getpass(f"password for {name}: ")
            if getpass.getpass("again: ") != password:
                raise UserError("the two passwords differ")
        else:
            password = sys.stdin.readline().rstrip("\n")
        print(f'"{name}" = "{hash_password(password)}"')
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
