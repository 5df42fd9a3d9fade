"""argparse pieces shared by every CLI group (`engine.cli`, `engine.jobs.cli`, `engine.llm2llm.cli`):
the one-line-error parser, size and `NAME=VALUE` argument types, help text from config defaults.
No group imports `engine.cli`; `engine.cli` imports the groups."""
from __future__ import annotations

import argparse
import dataclasses
import sys
import typing


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (usage stays available through --help)."""

    def error(self, message: str):
        from engine.terminal import safe  # noqa: PLC0415

        self.exit(2, safe(f"error: {' '.join(message.split())} (see `{self.prog} --help`)") + "\n")


def fraction_or_count(text: str) -> float | int:
    """argparse type for sizes, accepting only unambiguous forms: a fraction in (0, 1] written with
    a point or as a percentage ('0.2', '1.0', '20%', '100%'), or a whole number of documents >= 1
    ('500'). '1' means one document, and says so on stderr."""
    text = text.strip()
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is neither a fraction nor a count") from None
    if text.endswith("%") or not text.lstrip("+").isdigit():
        if not 0 < value <= 1:
            raise argparse.ArgumentTypeError(
                f"'{text}' is not a fraction in (0, 1] (e.g. 0.2, 1.0 or 20%); for a number of documents "
                "give a whole number (e.g. 500)")
        return value
    if int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}': a count must be at least 1 document")
    if int(text) == 1:
        print("note: --budget 1 selects one document; for the whole corpus give 1.0 or 100%", file=sys.stderr)
    return int(text)


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


def filter_spec(args):
    """The `engine.filters.FilterSpec` of --drop-failing, --language, --exclude-near-duplicates."""
    from engine.filters import FilterSpec  # noqa: PLC0415

    split = lambda text: tuple(x.strip() for x in (text or "").split(",") if x.strip())  # noqa: E731
    return FilterSpec(split(args.drop_failing), split(args.language), args.exclude_near_duplicates)


def filter_args(p) -> None:
    """--drop-failing, --language, --exclude-near-duplicates (select, pipeline)."""
    p.add_argument("--drop-failing", default="", metavar="RULES",
                   help="drop documents failing these rules first (comma-separated rule names, or 'all')")
    p.add_argument("--language", default="", metavar="CODES", help="keep only these languages (e.g. en,de)")
    p.add_argument("--exclude-near-duplicates", action="store_true",
                   help="drop near-duplicates of a kept document first (needs the near_dups signal)")


def selection_args(p) -> None:
    """select/compare/pipeline: the strategy, its weight, budget, seed, quality signal and coverage settings."""
    from engine.select import PROPENSITIES, TEMPERATURE, quality_signals, strategies  # noqa: PLC0415

    p.add_argument("--strategy", choices=strategies(), default="combined",
                   help="random | a signal (top-k quality, or inverse-propensity sampling for density) | "
                        "combined (weighted ranks of quality and coverage); default combined")
    p.add_argument("--weight", type=float, default=0.5,
                   help="combined only: 1 = quality only (equals top-k), 0 = coverage only (equals density)")
    p.add_argument("--budget", type=fraction_or_count, default=0.2,
                   help="a fraction of the corpus in (0, 1] (0.2, 1.0, 20%%) or a whole number of documents (500)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling strategies (default 0)")
    p.add_argument("--quality", choices=quality_signals(), default="askllm",
                   help="quality signal that `combined` weighs against coverage (default askllm)")
    p.add_argument("--temperature", type=float, default=TEMPERATURE,
                   help="density and combined: sampling temperature T, P ~ (1/propensity)^(1/T); LOWER keeps "
                        f"MORE rare documents, 1 = plain inverse propensity (default {TEMPERATURE})")
    p.add_argument("--propensity", choices=PROPENSITIES, default="clusters",
                   help="density and combined: 'clusters' = cluster share x density within the cluster (evens out "
                        "topics; needs the clusters stage, else falls back), 'density' = the sketch's density "
                        "alone (the paper's); default clusters")
    p.add_argument("--name", default=None, help="save the selection under this name")
    p.add_argument("--replace", action="store_true", help="overwrite a saved selection of the same name")


def backend_args(p) -> None:
    """Where a stage runs: in this process or on a Ray cluster."""
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local: in this process (default); ray: on a Ray cluster through Ray Data")
    p.add_argument("--address", default=None,
                   help="ray: cluster address (auto, ray://host:10001); default a local Ray on this machine")
    p.add_argument("--ray-actors", type=int, default=None, help="ray: model replicas (default one per GPU, else 1)")
