"""Permission checks as another user meets them, for tests that run as root (root is never refused).

:func:`refuse_as_kernel` makes ``os.open``, ``os.mkdir``, ``os.rmdir``, ``os.unlink`` and ``os.access`` refuse,
as the kernel would for a user who is not ``uid`` and lacks the write bit ``write_bit`` (``0o002``: a user outside
the owner's group; ``0o020``: a member of it): a file or folder of ``uid`` without that bit cannot be opened for
writing, nor a file made in it or removed from it.
"""

from __future__ import annotations

import errno
import os

import pytest


def refuse_as_kernel(monkeypatch: pytest.MonkeyPatch, uid: int, write_bit: int) -> None:
    real_open, real_mkdir, real_access = os.open, os.mkdir, os.access

    def foreign(path) -> bool:
        try:
            info = os.stat(path)
        except OSError:
            return False
        return info.st_uid == uid and not info.st_mode & write_bit

    def fake_open(path, flags, mode=0o777, *args, **kwargs):
        dir_fd = kwargs.get("dir_fd")
        full = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), path) if dir_fd is not None else os.fspath(path)
        if (flags & (os.O_WRONLY | os.O_RDWR) and foreign(full)) or (
                flags & os.O_CREAT and not os.path.exists(full) and foreign(os.path.dirname(full) or ".")):
            raise PermissionError(errno.EACCES, "Permission denied", full)
        return real_open(path, flags, mode, *args, **kwargs)

    def fake_mkdir(path, mode=0o777, *args, **kwargs):
        if foreign(os.path.dirname(os.fspath(path).rstrip("/")) or "."):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_mkdir(path, mode, *args, **kwargs)

    def fake_access(path, mode, *args, **kwargs):
        if mode & os.W_OK and foreign(path):
            return False
        return real_access(path, mode, *args, **kwargs)

    def refusing(real):
        def remove(path, *args, dir_fd=None, **kwargs):
            parent = os.readlink(f"/proc/self/fd/{dir_fd}") if dir_fd is not None else (
                os.path.dirname(os.path.abspath(os.fspath(path))))
            if foreign(parent):
                raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
            return real(path, *args, dir_fd=dir_fd, **kwargs)
        return remove

    monkeypatch.setattr(os, "open", fake_open)
    monkeypatch.setattr(os, "mkdir", fake_mkdir)
    monkeypatch.setattr(os, "rmdir", refusing(os.rmdir))
    monkeypatch.setattr(os, "unlink", refusing(os.unlink))
    monkeypatch.setattr(os, "access", fake_access)
