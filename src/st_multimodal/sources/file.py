"""Local files: plain paths (``str`` or ``os.PathLike``, ``~`` expanded) and ``file://`` URIs.

Governed by ``FetchPolicy.allow_files``, ``"file"`` in ``FetchPolicy.allowed_schemes`` (plain paths
count as ``file``) and ``FetchPolicy.file_roots``: checked on the real path, after symlinks are
resolved, and again on the file actually opened (``/proc/self/fd`` on Linux), so neither a link nor a
link swapped in between check and open can escape a root. ``FetchPolicy.refuse_hard_links`` refuses
files with more than one hard link. Only regular files are read, and a file larger than
``FetchPolicy.max_bytes`` is refused before any byte is read.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

from ..errors import BlockedSourceError, FetchError, LimitExceededError
from ..policy import FetchPolicy
from ..types import FetchedBytes, ResolveContext

__all__ = ["FileSignature", "FileSource", "path_from_location"]

_WINDOWS_DRIVE = re.compile(r"^/?[A-Za-z]:[\\/]")
_LOCAL_HOSTS = ("", "localhost")


def path_from_location(location: str | os.PathLike[str]) -> str:
    """The local path a plain path or ``file:`` URI names (percent-decoded, ``~`` expanded)."""
    text = os.fspath(location)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if not text.lower().startswith("file:"):
        return os.path.expanduser(text)
    parts = urlsplit(text)
    netloc, path = parts.netloc, unquote(parts.path)
    if re.fullmatch(r"[A-Za-z]:", netloc):  # file://C:/x, a common mistake for file:///C:/x
        netloc, path = "", netloc + path
    if netloc.lower() not in _LOCAL_HOSTS:
        raise BlockedSourceError(f"file URI names a remote host {netloc!r}; only local files are read")
    if os.name == "nt" and _WINDOWS_DRIVE.match(path) and path.startswith("/"):
        path = path[1:]
    if not path:
        raise FetchError("file URI has no path", transient=False)
    return path


def _under(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:  # different drives on Windows
        return False


def _check_roots(real: str, policy: FetchPolicy) -> None:
    if policy.file_roots is None:
        return
    roots = [os.path.realpath(os.path.expanduser(r)) for r in policy.file_roots]
    if not any(_under(real, root) for root in roots):
        raise BlockedSourceError(
            f"file {real!r} is outside FetchPolicy.file_roots {list(policy.file_roots)} (symlinks resolved)"
        )


class FileSignature(NamedTuple):
    """A local file's identity while its content is unchanged (what ``git status`` compares)."""

    path: str
    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int

    def settled(self, now_ns: int, margin_s: float = 2.0) -> bool:
        """True if the file was last changed at least ``margin_s`` before ``now_ns``: a later change in
        place then moves its mtime or ctime even on file systems with coarse (up to 2 s) timestamps."""
        return now_ns - max(self.mtime_ns, self.ctime_ns) >= margin_s * 1e9


def _checked_path(location: str | os.PathLike[str], policy: FetchPolicy) -> tuple[str, str]:
    """(path as named, path to open) after the policy's checks on local files."""
    if not policy.allow_files:
        raise BlockedSourceError("local files are not allowed (FetchPolicy.allow_files=False)")
    if "file" not in policy.allowed_schemes:
        raise BlockedSourceError("local files are not allowed ('file' is not in FetchPolicy.allowed_schemes; plain paths count as file)")
    path = path_from_location(location)
    real = path
    if policy.file_roots is not None:  # confinement is checked on the resolved path (symlinks followed)
        real = os.path.realpath(path)
        _check_roots(real, policy)
    return path, real


class FileSource:
    """Reads local files under the fetch policy."""

    schemes = ("file",)

    def fetch(self, location: str | os.PathLike[str], ctx: ResolveContext) -> FetchedBytes:
        policy = ctx.fetch_policy
        source = os.fspath(location) if not isinstance(location, str) else location
        source = os.fsdecode(source)
        try:
            return self._read(location, policy, source)
        except (FetchError, LimitExceededError) as exc:
            raise exc.at(source=source)

    def signature(self, location: str | os.PathLike[str], ctx: ResolveContext) -> FileSignature | None:
        """What ``fetch`` would read, identified without reading it: None if ``fetch`` would refuse or fail.

        The identity of an unchanged file (``st_dev``, ``st_ino``, size, ``st_mtime_ns``, ``st_ctime_ns``), for
        caches that remember a file's content hash (see ``EmbeddingCache``).
        """
        try:
            _, real = _checked_path(location, ctx.fetch_policy)
            info = os.stat(real)
        except (FetchError, OSError, ValueError):
            return None
        if not stat.S_ISREG(info.st_mode) or info.st_size > ctx.fetch_policy.max_bytes:
            return None
        if ctx.fetch_policy.refuse_hard_links and info.st_nlink > 1:
            return None
        return FileSignature(os.path.abspath(real), info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)

    def _read(self, location: str | os.PathLike[str], policy: FetchPolicy, source: str) -> FetchedBytes:
        path, real = _checked_path(location, policy)
        flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
        if policy.file_roots is not None:  # ``real`` has no link left: one appearing now is a swap after the check
            flags |= getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(real, flags)
        except FileNotFoundError as exc:
            raise FetchError(f"no such file: {path!r}", status=None, transient=False) from exc
        except IsADirectoryError as exc:
            raise FetchError(f"is a directory, not a file: {path!r}", transient=False) from exc
        except PermissionError as exc:
            raise FetchError(f"permission denied: {path!r}", transient=False) from exc
        except OSError as exc:
            if exc.errno == errno.ELOOP and policy.file_roots is not None:
                raise BlockedSourceError(f"file {path!r} became a symbolic link after it was checked against FetchPolicy.file_roots") from exc
            raise FetchError(f"cannot open {path!r}: {exc.strerror or exc}", transient=False) from exc
        try:
            _check_opened(fd, path, policy)
            info = os.fstat(fd)
            if policy.refuse_hard_links and stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
                raise BlockedSourceError(
                    f"file {path!r} has {info.st_nlink} hard links (FetchPolicy.refuse_hard_links=True)"
                )
            if stat.S_ISDIR(info.st_mode):
                raise FetchError(f"is a directory, not a file: {path!r}", transient=False)
            if not stat.S_ISREG(info.st_mode):
                raise FetchError(f"not a regular file (device, pipe or socket): {path!r}", transient=False)
            if info.st_size > policy.max_bytes:
                raise LimitExceededError(
                    "file is larger than FetchPolicy.max_bytes",
                    limit_name="max_bytes", limit=policy.max_bytes, actual=info.st_size,
                )
            data = _read_capped(fd, policy.max_bytes, expected=info.st_size)
        finally:
            os.close(fd)
        return FetchedBytes(data=data, source=source, mime=None, name=path)


def _check_opened(fd: int, path: str, policy: FetchPolicy) -> None:
    """With ``file_roots``, the file actually opened must lie under a root too (Linux: its ``/proc/self/fd`` link)."""
    if policy.file_roots is None:
        return
    try:
        opened = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # no /proc (macOS, Windows): the check on the resolved path stands alone
        return
    if not os.path.isabs(opened):
        return
    try:
        _check_roots(opened, policy)
    except BlockedSourceError:
        raise BlockedSourceError(f"file {path!r} resolved outside FetchPolicy.file_roots when it was opened") from None


def _read_capped(fd: int, max_bytes: int, expected: int = 0) -> bytes:
    """Read to the end, but never more than ``max_bytes`` (the file may grow while we read).

    The first read asks for the size ``fstat`` gave plus one byte (one read and one EOF check for a file
    that does not change): a read buffer is allocated at the size asked for, and a 16 MiB one per file costs
    an ``mmap``/``munmap`` pair that every thread of the process pays for.
    """
    parts: list[bytes] = []
    total = 0
    ask = min(max(expected, 0) + 1, max_bytes + 1)
    while chunk := os.read(fd, ask):
        parts.append(chunk)
        total += len(chunk)
        if total > max_bytes:
            raise LimitExceededError(
                "file grew beyond FetchPolicy.max_bytes while being read",
                limit_name="max_bytes", limit=max_bytes, actual=total,
            )
        ask = min(1 << 24, max_bytes + 1 - total)
    return parts[0] if len(parts) == 1 else b"".join(parts)
