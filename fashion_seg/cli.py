"""What every command-line tool shares: one-line errors, exit codes, logging set-up.

Exit codes: 0 fine; 1 the tool's own "problems found" (validate, check-submission ...); 2 a user error
(:class:`~fashion_seg.errors.FashionSegError`, or a file the user must fix: see :func:`fashion_seg.errors.file_error`),
printed as one ``error: ...`` line; 70 a bug (any other exception: its traceback, then one line asking to report it);
130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from typing import Callable, Sequence

from .errors import FashionSegError, file_error

EXIT_USER_ERROR = 2
EXIT_BUG = 70  # sysexits.h EX_SOFTWARE
EXIT_INTERRUPTED = 130

KAGGLE_SIZE = 512
SIZE_HELP = "mask grid: 512 (512x512, as Kaggle scores) or native (each image's own size)"


def size_arg(text: str) -> int | None:
    """argparse type of a ``--size`` option: ``512`` (Kaggle's grid) or ``native`` (None); anything else would
    silently score or write masks on a grid no one reads them on."""
    if text == "native":
        return None
    if text.strip() == str(KAGGLE_SIZE):
        return KAGGLE_SIZE
    raise argparse.ArgumentTypeError(f"expected {KAGGLE_SIZE} or 'native', got {text!r}")


def count_arg(text: str) -> int:
    """argparse type of a count that may be 0 (images, pixels of a side): a whole number, not negative."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {value}")
    return value


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


def run(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    """Run a tool's ``main``: a :class:`FashionSegError` (or an OS error of a named file that the user can fix) is
    printed on one line and gives exit code 2; any other exception is a bug: its traceback, a line saying so, code 70.

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
    except Exception as error:
        user_error = file_error(error) if isinstance(error, OSError) else None
        if user_error is not None:
            print(f"error: {user_error}", file=sys.stderr)
            return EXIT_USER_ERROR
        traceback.print_exc()
        print(f"bug: {type(error).__name__} is not an error this tool expects; please report it with the traceback "
              "above and the command line", file=sys.stderr)
        return EXIT_BUG
    return int(code or 0)
