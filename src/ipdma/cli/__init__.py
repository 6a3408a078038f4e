"""The ``ipdma`` command-line tool.

Each subcommand lives in its own module ``ipdma.cli._<name>`` exposing
``register(subparsers)`` and ``run(args) -> int``.  User errors
(:class:`ipdma.errors.IPDMAError`) are reported as ``error: ...`` with exit
code 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import warnings
from pathlib import Path

from ..errors import IPDMAError, IPDMAWarning

__all__ = ["build_parser", "main"]

# Order of appearance in `ipdma --help`.
_COMMANDS = ["_simulate", "_describe", "_nma", "_risk_nmr", "_ite", "_pool", "_subgroups",
             "_simstudy", "_calculator", "_demo"]


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__
    from ._common import CLIParser

    parser = CLIParser(
        prog="ipdma",
        description="Individual participant data meta-analysis of randomized trials.",
    )
    parser.add_argument("--version", action="version", version=f"ipdma {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _COMMANDS:
        importlib.import_module(f".{name}", __name__).register(sub)
    return parser


def _output_target(args: argparse.Namespace) -> tuple[Path, str] | None:
    out = getattr(args, "out", None)
    if not out:
        return None
    return Path(out), getattr(args, "out_kind", "dir")


def _remove_new_output(target: tuple[Path, str] | None, existed: bool) -> None:
    """After a failed run, remove the output folder/file this run created."""
    if target is None or existed:
        return
    path = target[0]
    try:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    except OSError:  # pragma: no cover - best effort
        pass


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ipdma`` console script.

    Returns the exit code: 0 on success, 2 for a user error (one line
    ``error: ...`` on stderr, never a traceback; an output folder created by
    the failed run is removed).  An unexpected exception is reported as an
    internal error (exit code 1); set ``IPDMA_TRACEBACK=1`` to let it propagate.
    """
    from ._common import check_output_path, cli_words

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version or a usage error (already printed)
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    original = warnings.showwarning

    def _show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, IPDMAWarning):
            sys.stderr.write(f"warning: {cli_words(str(message))}\n")
        else:
            original(message, category, filename, lineno, file, line)

    target = _output_target(args)
    existed = target is not None and target[0].exists()
    warnings.showwarning = _show
    try:
        if target is not None:
            check_output_path(target[0], "--out", target[1])
        return int(args.func(args) or 0)
    except IPDMAError as exc:
        _remove_new_output(target, existed)
        sys.stderr.write(f"error: {cli_words(str(exc))}\n")
        return 2
    except ImportError as exc:  # an optional extra that is not installed
        _remove_new_output(target, existed)
        msg = str(exc)
        if "pip install" not in msg:
            msg = f"the optional package {exc.name or msg!r} is not installed: pip install " \
                  f"{exc.name or msg}"
        sys.stderr.write(f"error: {msg}\n")
        return 2
    except OSError as exc:  # e.g. the disk filled up while writing outputs
        _remove_new_output(target, existed)
        where = f" {exc.filename!r}" if exc.filename else ""
        sys.stderr.write(f"error: could not write or read{where}: "
                         f"{exc.strerror or exc}\n")
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        sys.stderr.write("interrupted\n")
        return 130
    except Exception as exc:
        _remove_new_output(target, existed)
        if os.environ.get("IPDMA_TRACEBACK"):
            raise
        sys.stderr.write(f"error: internal error ({type(exc).__name__}: {' '.join(str(exc).split())}); rerun with "
                         "IPDMA_TRACEBACK=1 for the traceback and please report it\n")
        return 1
    finally:
        warnings.showwarning = original


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
