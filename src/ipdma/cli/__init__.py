"""The ``ipdma`` command-line tool.

Each subcommand lives in its own module ``ipdma.cli._<name>`` exposing
``register(subparsers)`` and ``run(args) -> int``.  User errors
(:class:`ipdma.errors.IPDMAError`) are reported as ``error: ...`` with exit
code 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from ..errors import IPDMAError, IPDMAWarning

__all__ = ["build_parser", "main"]

# Order of appearance in `ipdma --help`.
_COMMANDS = ["_simulate", "_describe", "_nma", "_risk_nmr", "_ite", "_subgroups", "_simstudy", "_demo"]


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="ipdma",
        description="Individual participant data meta-analysis of randomized trials.",
    )
    parser.add_argument("--version", action="version", version=f"ipdma {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _COMMANDS:
        importlib.import_module(f".{name}", __name__).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ipdma`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    original = warnings.showwarning

    def _show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, IPDMAWarning):
            sys.stderr.write(f"warning: {message}\n")
        else:
            original(message, category, filename, lineno, file, line)

    warnings.showwarning = _show
    try:
        return int(args.func(args) or 0)
    except IPDMAError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        sys.stderr.write("interrupted\n")
        return 130
    finally:
        warnings.showwarning = original


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
