"""argparse pieces shared by every CLI group (`engine.cli`, `engine.jobs.cli`, `engine.llm2llm.cli`):
the one-line-error parser, size and `NAME=VALUE` argument types, help text from config defaults.
No group imports `engine.cli`; `engine.cli` imports the groups."""
from __future__ import annotations

import argparse
import dataclasses
import typing


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (usage stays available through --help)."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def fraction_or_count(text: str) -> float | int:
    """argparse type for sizes: '0.2' -> a fraction, '500' -> a count (see `engine.select.budget_count`)."""
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is neither a fraction nor a count") from None


def setting(text: str) -> tuple[str, str]:
    """argparse type for `--set NAME=VALUE` (the value is parsed against the config field later)."""
    name, eq, value = text.partition("=")
    if not eq or not name.strip():
        raise argparse.ArgumentTypeError(f"'{text}' is not NAME=VALUE")
    return name.strip().replace("-", "_"), value


def field_default(config: type, name: str):
    """A config dataclass field's default value."""
    f = next(f for f in dataclasses.fields(config) if f.name == name)
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()


def parse_settings(config: type, pairs: list[tuple[str, str]] | None) -> dict:
    """`--set` pairs as typed keyword arguments of `config`; a ValueError names a bad one."""
    hints, out = typing.get_type_hints(config), {}
    for name, text in pairs or []:
        if name not in hints:
            raise ValueError(f"{config.__name__} has no setting '{name}' (settings: {', '.join(hints)})")
        kinds = [a for a in typing.get_args(hints[name]) if a is not type(None)] or [hints[name]]
        kind = kinds[0]
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(f"setting '{name}' takes true or false, not '{text}'")
            out[name] = text.lower() in ("true", "1", "yes")
        else:
            try:
                out[name] = kind(text) if kind in (int, float, str) else text
            except ValueError:
                raise ValueError(f"setting '{name}' takes a {kind.__name__}, not '{text}'") from None
    return out
