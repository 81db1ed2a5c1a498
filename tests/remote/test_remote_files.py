"""Atomic remote writes: a failed or interrupted write leaves the target as it was and no part file behind."""

import io
import posixpath

import pytest

from fashion_seg.remote.remote_files import PART_SUFFIX, temporary_beside, write_atomically


class MemorySFTP:
    """The few SFTP calls the writers use, over a dict of path -> bytes; ``fail_after`` bytes into a write, it raises."""

    def __init__(self, files=None, fail_after=None):
        self.files = dict(files or {})
        self.fail_after = fail_after

    def open(self, path, mode):
        sftp = self

        class Handle(io.BytesIO):
            def write(self, data):
                if sftp.fail_after is not None and self.tell() + len(data) > sftp.fail_after:
                    super().write(data[:sftp.fail_after - self.tell()])
                    sftp.files[path] = self.getvalue()
                    raise OSError(28, "No space left on device")
                return super().write(data)

            def close(self):
                sftp.files[path] = self.getvalue()
                super().close()

        return Handle()

    def posix_rename(self, source, target):
        self.files[target] = self.files.pop(source)

    def remove(self, path):
        if path not in self.files:
            raise FileNotFoundError(path)
        del self.files[path]


def test_write_atomically_replaces_the_target_and_leaves_no_part_file():
    sftp = MemorySFTP({"/r/state.json": b"old"})
    write_atomically(sftp, "/r/state.json", b"new content")
    assert sftp.files == {"/r/state.json": b"new content"}


def test_a_write_that_fails_halfway_keeps_the_old_file_and_removes_its_part():
    sftp = MemorySFTP({"/r/state.json": b"old"}, fail_after=4)
    with pytest.raises(OSError, match="No space"):
        write_atomically(sftp, "/r/state.json", b"new content")
    assert sftp.files == {"/r/state.json": b"old"}


def test_temporary_beside_names_a_hidden_part_in_the_same_directory_and_removes_it_on_interrupt():
    sftp = MemorySFTP()
    with pytest.raises(KeyboardInterrupt):
        with temporary_beside(sftp, "/r/sub/model.h5") as temporary:
            assert posixpath.dirname(temporary) == "/r/sub"
            assert posixpath.basename(temporary).startswith(".model.h5.") and temporary.endswith(PART_SUFFIX)
            sftp.files[temporary] = b"half"
            raise KeyboardInterrupt
    assert sftp.files == {}
