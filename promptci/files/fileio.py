"""Files at the door: inputs checked before they are opened, outputs checked before any work, writes atomic.

promptci checks every path it was given before the first model call, so a wrong path is one line
(exit 2) instead of a traceback after minutes of scoring with the results lost.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from pydantic import ValidationError

from ..errors import InputError


def repository_root(path: Path) -> Path | None:
    """The work tree that holds `path` (the nearest folder with a `.git`), or None outside any repository."""
    for folder in Path(path).absolute().parents:
        if (folder / ".git").exists():
            return folder
    return None


def confine(folder: Path, relative: str, *, field: str, where: Path) -> Path:
    """`relative` (a path a prompt file names) resolved beside `folder`, refused unless it stays inside the
    repository: not absolute, not itself a symlink, not resolving outside the work tree (through `..` or a
    linked folder). A pull request writes these paths, and the files they name are read into reports or
    written: a link to /proc/self/environ or a `../../` path must never be followed."""
    fix = "use a path relative to the prompt file, inside the repository, to a file committed as it is"
    if os.path.isabs(relative) or relative.startswith("~"):
        raise InputError(f"'{relative}' is an absolute path", path=where, field=field, fix=fix)
    target = Path(folder) / relative
    if target.is_symlink():
        raise InputError(f"'{relative}' is a symlink", path=where, field=field, fix=fix)
    resolved = target.resolve()
    root = repository_root(Path(where))
    if root is not None and not resolved.is_relative_to(root.resolve()):
        raise InputError(f"'{relative}' resolves outside the repository ({root})", path=where, field=field, fix=fix)
    inside = resolved.relative_to(root.resolve()) if root is not None else Path(relative)
    if any(part.lower() == ".git" for part in (*inside.parts, *Path(relative).parts)):
        raise InputError(f"'{relative}' is inside .git", path=where, field=field, fix=fix)  # hooks, config, token
    return resolved


def check_input(
    path: str | Path, *, what: str = "file", field: str | None = None, fix: str = "check the path"
) -> os.stat_result:
    """An input file's status, checked without opening it: a folder, a pipe or a device is refused
    (reading a FIFO would wait for a writer forever)."""
    path = Path(path)
    try:
        status = path.stat()
    except FileNotFoundError:
        raise InputError(f"{what} not found", path=path, field=field, fix=fix) from None
    except OSError as exc:
        raise InputError(f"cannot read the {what} ({exc.strerror})", path=path, field=field, fix=fix) from None
    if stat.S_ISDIR(status.st_mode):
        raise InputError(f"is a folder, not a {what}", path=path, field=field, fix=fix)
    if not stat.S_ISREG(status.st_mode):
        raise InputError(f"is a pipe, socket or device, not a {what}", path=path, field=field, fix=fix)
    return status


def read_input(
    path: str | Path,
    *,
    what: str = "file",
    field: str | None = None,
    fix: str = "check the path",
    limit: int | None = None,
) -> bytes:
    """The bytes of an input file, checked first by check_input, and refused over `limit` bytes before reading."""
    status = check_input(path, what=what, field=field, fix=fix)
    if limit is not None and status.st_size > limit:
        raise InputError(
            f"is {status.st_size} bytes, over the {limit}-byte limit for a {what}",
            path=path,
            field=field,
            fix="split it, or shorten its entries",
        )
    try:
        with Path(path).open("rb") as file:
            data = file.read() if limit is None else file.read(limit + 1)  # bounded even if it grew since
    except OSError as exc:
        raise InputError(f"cannot read the {what} ({exc.strerror})", path=path, field=field, fix=fix) from None
    if limit is not None and len(data) > limit:
        raise InputError(f"is over the {limit}-byte limit for a {what}", path=path, field=field, fix=fix)
    return data


def check_output_file(path: str | Path, *, option: str, example: str = "results.json") -> None:
    """A file promptci will write: not a folder, and inside a folder that exists or can be made."""
    path = Path(path)
    if path.is_dir():
        raise InputError(
            "is a folder, and a file path is needed here",
            path=path,
            field=option,
            fix=f"name a file, e.g. {path / example}",
        )
    _check_creatable(path.parent, path, option)


def check_output_folder(path: str | Path, *, option: str) -> None:
    """A folder promptci will write into: not a file, and existing or possible to make."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(
            "is a file, and a folder is needed here",
            path=path,
            field=option,
            fix="name a folder (it is made when missing)",
        )
    _check_creatable(path, path, option)


def _check_creatable(folder: Path, given: Path, option: str) -> None:
    """`folder` exists or can be made: its nearest existing ancestor is a folder we may write in."""
    probe = folder.absolute()
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        raise InputError(
            f"{probe} is a file, so no folder can be made inside it",
            path=given,
            field=option,
            fix="choose a path whose folders are folders",
        )
    if not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(
            f"cannot write in {probe} (permission denied)",
            path=given,
            field=option,
            fix="choose a folder you may write in",
        )


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write `text` to a temporary file beside `path`, flush it to disk, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def first_error(exc: ValidationError, whole: str = "(the whole file)") -> tuple[str, str]:
    """Where pydantic's first complaint about a file is (its fields, dotted; `whole` when it is the file itself) and
    what it says: the field and the message of a one-line error."""
    error = exc.errors()[0]
    return ".".join(str(part) for part in error["loc"]) or whole, error["msg"]
