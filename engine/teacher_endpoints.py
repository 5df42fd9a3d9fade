"""Which teacher endpoints get an API key: only those configured on the server.

`$SEEDBED_TEACHER_ENDPOINTS` lists them, separated by `;` or newlines, each `BASE_URL=ENV_NAME`
(the key is read from that environment variable) or a bare `BASE_URL` (no key, e.g. a local
vLLM), for example `https://api.openai.com/v1=OPENAI_API_KEY;http://gpu-box:8000/v1`.

A request URL matches an entry when scheme, host and port are equal and the entry's path is a
whole-segment prefix of its path (`https://api.openai.com.evil.test/v1` and `.../v1evil` do not
match). The path is compared after resolving `.`/`..` segments (percent-encoded ones too), as the
server will: `/v1/../admin` is `/admin`, outside `/v1`. A key is sent only to a matching endpoint; the HTTP client does not follow redirects, so
it never travels on to another host. The dashboard offers only these endpoints and cannot name
an environment variable; on the CLI, `--api-key-env NAME` with an unlisted URL is refused.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from engine.errors import UserError
from engine.user_text import shown

ENV = "SEEDBED_TEACHER_ENDPOINTS"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Endpoint:
    url: str  # base URL as configured, without a trailing slash
    key_env: str  # "" = no key


def _origin_and_path(url: str) -> tuple[tuple[str, str, int], list[str]]:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        raise UserError(f"teacher URL {shown(url)}: use http(s)://host[:port]/path, without a user name")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return (parts.scheme, parts.hostname.lower(), port), _segments(parts.path)


def _segments(path: str) -> list[str]:
    """Path segments with `.` and `..` resolved (also `%2e%2e` and backslashes, which some
    servers read as `/`), so a prefix check sees the path the server will serve."""
    out: list[str] = []
    for segment in unquote(path).replace("\\", "/").split("/"):
        if segment == "..":
            if out:
                out.pop()
        elif segment and segment != ".":
            out.append(segment)
    return out


def configured() -> list[Endpoint]:
    """The endpoints of $SEEDBED_TEACHER_ENDPOINTS (UserError on a malformed entry)."""
    out = []
    for entry in re.split(r"[;\n]", os.environ.get(ENV, "")):
        url, _, key_env = entry.strip().partition("=")
        if not url:
            continue
        key_env = key_env.strip()
        if key_env and not _ENV_NAME.match(key_env):
            raise UserError(f"{ENV}: {shown(key_env)} is not an environment variable name")
        _origin_and_path(url)
        out.append(Endpoint(url.strip().rstrip("/"), key_env))
    return out


def match(url: str) -> Endpoint | None:
    """The configured endpoint `url` belongs to (the longest matching base URL), or None."""
    origin, path = _origin_and_path(url)
    best = None
    for ep in configured():
        ep_origin, ep_path = _origin_and_path(ep.url)
        if ep_origin == origin and path[:len(ep_path)] == ep_path and (best is None or len(ep.url) > len(best.url)):
            best = ep
    return best


def key_env_for(url: str, requested: str = "") -> str:
    """The environment variable whose value may go to `url` as a Bearer token ("" = none).
    `requested` is an explicit `--api-key-env`: allowed only when it is the one configured for
    the endpoint, refused (one line) for a URL that is not configured."""
    requested = (requested or "").strip()
    endpoint = match(url)
    if endpoint is None:
        if requested:
            raise UserError(f"teacher URL {shown(url)} is not a configured endpoint, so ${requested} is not sent "
                            f"to it; to allow it, add '{url}={requested}' to {ENV} on this machine")
        return ""
    if requested and requested != endpoint.key_env:
        raise UserError(f"teacher endpoint {endpoint.url} is configured with key "
                        f"{'$' + endpoint.key_env if endpoint.key_env else 'none'}, not ${requested} ({ENV})")
    return endpoint.key_env


def api_key(url: str, requested: str = "") -> str:
    """The key to send to `url` ("" = send none), following `key_env_for`."""
    name = key_env_for(url, requested)
    return os.environ.get(name, "") if name else ""
