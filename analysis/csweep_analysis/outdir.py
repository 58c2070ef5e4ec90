"""Output folders replaced as a whole: written into a hidden sibling, renamed into place at the
end, so an interrupted or failed run never leaves a folder that looks complete."""
import os
import shutil

from .errors import input_error


def prepare(path, marker):
    """(absolute path, fresh temporary sibling); refuses to replace a non-empty folder that
    lacks `marker` (a file every output of ours holds)."""
    path = os.path.abspath(path)
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise input_error(path, "exists and is not a folder", None,
                              "a new folder or an earlier output of the same command")
        if os.listdir(path) and not os.path.exists(os.path.join(path, marker)):
            raise input_error(path, f"is a non-empty folder without {marker}", None,
                              "a new folder or an earlier output of the same command (it is "
                              "replaced)")
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(path)}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    return path, tmp


def commit(tmp, path):
    old = None
    if os.path.exists(path):
        old = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.old-{os.getpid()}")
        os.rename(path, old)
    os.rename(tmp, path)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def discard(tmp):
    shutil.rmtree(tmp, ignore_errors=True)
