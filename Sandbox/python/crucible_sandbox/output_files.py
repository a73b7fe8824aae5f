"""Files out: what code writes under /output comes back to the caller with the result.

Workers cannot write to any file: seccomp refuses opening for writing everywhere, and only
Landlock could tell one folder from another, which not every kernel has. So /output is not a
folder on disk. `open()` (builtins and io, which is how Python libraries write files:
matplotlib's savefig, PIL's save, csv, json) is wrapped: a path under /output opens an
in-memory file, kept when it is closed and sent with the cell's result. Everything else goes
to the real `open`, unchanged. Writers that call the C library directly are not caught.

The host trusts none of it: it checks names, counts and sizes again and decides each file's
type from its bytes (CrucibleWire's `OutputFiles`).

Files in (SandboxFusion's `files`, through `crucible http`): the job may carry files the code
reads under /output, and may make /output its working folder, so that `open("data.txt")`
finds them and a relative path written comes back as a file out, as in SandboxFusion's
temporary folder. They are read-only copies in memory too; only files written come back.
"""

import base64
import builtins
import io
import os

PREFIX = "/output"
# What the host accepts (CrucibleWire's `OutputFile.maxCount` and `isSafeName`): a result
# with more files or another name is a protocol violation that loses the whole result, so
# the code gets an OSError at open() instead, like a disk that is full or refuses the name.
MAX_FILES = 64
MAX_NAME_BYTES = 255
_real_open = builtins.open
_real_makedirs = os.makedirs
_real_mkdir = os.mkdir
_real_stat = os.stat
_real_lstat = os.lstat
_real_listdir = os.listdir


class _Store:
    files = {}  # name -> bytes, this cell's
    given = {}  # name -> bytes, the job's input files: readable, never sent back unless rewritten
    relative = False  # the job's relative paths name files under /output (its working folder)
    limit = 8 << 20  # total bytes, from the job
    used = 0


def _name(path):
    """The name under /output, or None for any other path (or a descriptor)."""
    if isinstance(path, int):
        return None
    try:
        path = os.fspath(path)  # pathlib.Path("/output/plot.png") as much as a str
    except TypeError:
        return None
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if _Store.relative and path and not path.startswith("/"):
        path = PREFIX + "/" + path
    normal = os.path.normpath(path)
    if normal == PREFIX:
        return ""
    if not normal.startswith(PREFIX + "/"):
        return None
    return normal[len(PREFIX) + 1:]


class _OutputBuffer(io.BytesIO):
    def __init__(self, name, initial=b""):
        super().__init__(initial)
        self._output_name = name
        if initial:
            self.seek(0, io.SEEK_END)

    def write(self, data):
        size = len(data) if not isinstance(data, memoryview) else data.nbytes
        if _Store.used + self.tell() + size - len(_Store.files.get(self._output_name, b"")) > _Store.limit:
            raise OSError(27, "File too large: the files under /output may hold %d bytes in all" % _Store.limit)
        return super().write(data)

    def close(self):
        if not self.closed:
            data = self.getvalue()
            if self._output_name not in _Store.files and len(_Store.files) >= MAX_FILES:
                super().close()
                raise _too_many_files(PREFIX + "/" + self._output_name)
            _Store.used += len(data) - len(_Store.files.get(self._output_name, b""))
            _Store.files[self._output_name] = data
        super().close()


def _open(file, mode="r", buffering=-1, encoding=None, errors=None, newline=None, closefd=True, opener=None):
    # An error of the real open() belongs to the caller's line: pytest (and tools that honour
    # the convention) leave this frame out of tracebacks and crash locations. Crucible's own
    # tracebacks show only the code's files anyway.
    __tracebackhide__ = True
    name = _name(file)
    if name is None:
        return _real_open(file, mode, buffering, encoding, errors, newline, closefd, opener)
    if not name:
        raise IsADirectoryError(21, "Is a directory", file)
    if any(flag in mode for flag in "wax+"):
        _check_name(name, file)
        if name not in _Store.files and len(_Store.files) >= MAX_FILES:
            raise _too_many_files(file)
        if "x" in mode and name in _Store.files:
            raise FileExistsError(17, "File exists", file)
        if "x" in mode and name in _Store.given:
            raise FileExistsError(17, "File exists", file)
        keep = "a" in mode or ("+" in mode and "w" not in mode)
        initial = _Store.files.get(name, _Store.given.get(name, b"")) if keep else b""
        raw = _OutputBuffer(name, initial)
    elif name in _Store.files:
        raw = io.BytesIO(_Store.files[name])
    elif name in _Store.given:
        raw = io.BytesIO(_Store.given[name])
    else:
        raise FileNotFoundError(2, "No such file or directory", file)
    if "b" in mode:
        return raw
    return io.TextIOWrapper(raw, encoding=encoding or "utf-8", errors=errors, newline=newline, write_through=True)


def _check_name(name, file):
    """Refuses a name the host would not take back."""
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:  # undecodable bytes in a bytes path
        raise OSError(22, "Invalid argument: a name under /output must be valid UTF-8", file) from None
    if any(part and len(part.encode("utf-8")) > MAX_NAME_BYTES for part in name.split("/")) or size > MAX_NAME_BYTES:
        raise OSError(36, "File name too long: a name under /output has at most %d bytes" % MAX_NAME_BYTES, file)
    if any(ord(character) < 0x20 or ord(character) == 0x7F for character in name):
        raise OSError(22, "Invalid argument: a name under /output may not contain control characters", file)


def _too_many_files(file):
    return OSError(28, "No space left on device: at most %d files under /output" % MAX_FILES, file)


def _makedirs(name, mode=0o777, exist_ok=False):
    __tracebackhide__ = True
    if _name(name) is not None:
        return None  # /output and folders below it exist for the code
    return _real_makedirs(name, mode, exist_ok)


def _mkdir(path, mode=0o777, *, dir_fd=None):
    __tracebackhide__ = True
    if _name(path) is not None:
        return None
    return _real_mkdir(path, mode, dir_fd=dir_fd)


def _folders():
    """Every folder under /output that the cell's files imply ("" is /output itself)."""
    folders = {""}
    for name in list(_Store.files) + list(_Store.given):
        parts = name.split("/")[:-1]
        folders.update("/".join(parts[:end]) for end in range(1, len(parts) + 1))
    return folders


def _stat(path, *, dir_fd=None, follow_symlinks=True):
    """os.stat for /output as a folder holding the cell's files: os.path.exists, isdir and
    isfile (which call it), and the writers that check a folder exists first (pandas' to_csv)
    see what open() would find."""
    __tracebackhide__ = True
    name = _name(path) if dir_fd is None else None
    if name is None:
        return _real_stat(path, dir_fd=dir_fd, follow_symlinks=follow_symlinks)
    data = _Store.files.get(name, _Store.given.get(name))
    if data is not None:
        return os.stat_result((0o100644, 0, 0, 1, os.getuid(), os.getgid(), len(data), 0, 0, 0))
    if name in _folders():
        return os.stat_result((0o040755, 0, 0, 2, os.getuid(), os.getgid(), 0, 0, 0, 0))
    raise FileNotFoundError(2, "No such file or directory", path)


def _lstat(path, *, dir_fd=None):
    __tracebackhide__ = True
    if _name(path) is None or dir_fd is not None:
        return _real_lstat(path, dir_fd=dir_fd)
    return _stat(path)


def _listdir(path="."):
    __tracebackhide__ = True
    name = _name(path)
    if name is None:
        return _real_listdir(path)
    if name not in _folders():
        _stat(path)  # raises FileNotFoundError, or NotADirectoryError below for a file
        raise NotADirectoryError(20, "Not a directory", path)
    prefix = name + "/" if name else ""
    entries = sorted({entry[len(prefix):].split("/")[0] for entry in list(_Store.files) + list(_Store.given)
                      if entry.startswith(prefix)})
    return [os.fsencode(entry) for entry in entries] if isinstance(os.fspath(path), bytes) else entries


def install():
    """Wraps open, os.stat and friends (once, in the zygote: every worker inherits it)."""
    builtins.open = io.open = _open
    os.makedirs, os.mkdir = _makedirs, _mkdir
    os.stat, os.lstat, os.listdir = _stat, _lstat, _listdir


def begin_cell(limit, given=None, relative=False):
    """A cell's store: empty, with the job's input files ({name: base64}) to read."""
    _Store.files = {}
    _Store.used = 0
    _Store.limit = max(0, int(limit))
    _Store.given = {name: base64.b64decode(text) for name, text in given.items()} if given else {}
    _Store.relative = bool(relative)


def take():
    """This cell's files as [{"name", "base64"}], in the order they were first closed."""
    files = [{"name": name, "base64": base64.b64encode(data).decode("ascii")} for name, data in _Store.files.items()]
    _Store.files = {}
    _Store.used = 0
    return files
