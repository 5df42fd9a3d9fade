"""Which host names the dashboard answers to (DNS rebinding defence).

A web page on `evil.example` can make its name resolve to 127.0.0.1 and then talk to a dashboard
on this machine as if it were its own site: the browser sends `Host: evil.example:8501` and a
matching `Origin`, so a same-origin check passes. Only a list of the names the dashboard is
really reached under stops it. `.streamlit/config.toml` lists the loopback names
(`server.allowedHosts`, which Streamlit checks on the websocket); the launcher
(`scripts/dashboard.py`) adds the bound address and this machine's names when the dashboard is
shared, and `$SEEDBED_ALLOWED_HOSTS` (comma-separated) adds more, e.g. a proxy's public name.
The pages check the `Host` header again (`host_allowed`), so a list emptied by hand still refuses
a foreign name with a clear page.
"""
from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

ENV = "SEEDBED_ALLOWED_HOSTS"
LOOPBACK = ("localhost", "127.0.0.1", "::1")
_ANY = ("", "0.0.0.0", "::", "[::]")


def allowed_hosts(address: str | None, extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The host names a dashboard bound to `address` answers to: loopback names, the address
    itself, and for a shared server this machine's host names; then `extra` and $SEEDBED_ALLOWED_HOSTS."""
    names = list(LOOPBACK)
    address = (address or "").strip().strip("[]")
    if address not in _ANY and not address.startswith("unix://"):
        names.append(address)
    if address not in LOOPBACK and not address.startswith("unix://"):
        names += [socket.gethostname(), socket.getfqdn()]
    names += [h for h in extra if h]
    names += [h.strip() for h in os.environ.get(ENV, "").split(",") if h.strip()]
    return list(dict.fromkeys(n.lower().rstrip(".") for n in names if n))


def host_allowed(host_header: str | None, allowed: list[str] | tuple[str, ...]) -> bool:
    """Whether a request's `Host` header (`name[:port]`) names an allowed host. `*.example.com`
    allows its sub-domains; `*` allows any name (do not use it on a shared server)."""
    if not host_header:
        return False
    try:
        parsed = urlparse(f"//{host_header}")
        name, _ = parsed.hostname, parsed.port  # .port raises on a non-numeric port
    except ValueError:
        return False
    if not name or parsed.username or parsed.password or parsed.path or parsed.query:
        return False
    name = name.lower().rstrip(".")
    for pattern in (p.strip().lower().rstrip(".") for p in allowed):
        if pattern == "*" or name == pattern or (pattern.startswith("*.") and name.endswith(pattern[1:])):
            return True
    return False


def refusal(host_header: str | None, allowed: list[str] | tuple[str, ...]) -> str:
    """The one line a page shows to a browser that reached it under a name not in the list."""
    return (f"This dashboard does not answer to the host name {str(host_header or '(none)')[:80]!r}; it answers "
            f"to {', '.join(allowed)}. If that is this server's real name, add it: "
            f"--server.allowedHosts NAME or ${ENV}=NAME (a page that renamed 127.0.0.1 is refused on purpose).")
