"""What every command-line tool shares: one-line errors, exit codes, logging set-up."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, Sequence

from .errors import FashionSegError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130

SIZE_HELP = "mask grid: 512 (512x512, as Kaggle scores) or native (each image's own size)"


def size_arg(text: str) -> int | None:
    """argparse type of a ``--size`` option: a positive number of pixels, or ``native`` (None)."""
    if text == "native":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of pixels or 'native', got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"size must be positive, got {value}")
    return value


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


def run(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    """Run a tool's ``main``: a :class:`FashionSegError` is printed on one line and gives exit code 2.

    Returns the exit code; top-level scripts call ``sys.exit(run(main))``.
    """
    try:
        code = main(argv)
    except FashionSegError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return int(code or 0)
