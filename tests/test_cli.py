import argparse
import errno

import pytest

from fashion_seg.cli import EXIT_BUG, EXIT_USER_ERROR, run, size_arg
from fashion_seg.errors import DataError


def test_a_user_error_prints_one_line_and_exits_2(capsys):
    def main(argv):
        raise DataError("train.csv row 7: odd number of RLE tokens")

    assert run(main, []) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err == "error: train.csv row 7: odd number of RLE tokens\n"


def test_the_exit_code_of_main_is_passed_through():
    assert run(lambda argv: 1, []) == 1
    assert run(lambda argv: None, []) == 0


def test_an_os_error_the_user_can_fix_is_one_line_naming_the_file(capsys):
    def main(argv):
        raise PermissionError(errno.EACCES, "Permission denied", "data/train.csv")

    assert run(main, []) == EXIT_USER_ERROR
    assert capsys.readouterr().err == "error: data/train.csv: permission denied (check its mode and owner)\n"


@pytest.mark.parametrize("error", [RuntimeError("unexpected"), OSError(errno.EBADF, "Bad file descriptor"),
                                   PermissionError(errno.EACCES, "Permission denied")],
                         ids=["runtime-error", "bad-file-descriptor", "permission-error-without-a-file"])
def test_any_other_exception_is_a_bug_with_its_traceback(error, capsys):
    def main(argv):
        raise error

    assert run(main, []) == EXIT_BUG
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"bug: {type(error).__name__} is not an error this tool expects; please report it")


@pytest.mark.parametrize("text, value", [("512", 512), ("native", None)])
def test_size_is_512_or_native(text, value):
    assert size_arg(text) == value


@pytest.mark.parametrize("text", ["7", "256", "0", "-512", "big"])
def test_any_other_size_is_refused(text):
    with pytest.raises(argparse.ArgumentTypeError, match=f"expected 512 or 'native', got '{text}'"):
        size_arg(text)
