"""Files: inputs are never written over, outputs are written atomically (a reader never sees
half a file, and a failure loses nothing), scratch is private and removed, and YAML is read
with libyaml where PyYAML has it, refusing aliases in files the user gives.

Every path medvalue reads as data or configuration is registered with :func:`register_input`;
every output goes through :func:`check_output`, which refuses a target that resolves to an
input (or lies inside an input folder), so that no option combination can replace an export
by a report, a spec or a generalised copy.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medvalue.core._config import CACHE_ENV
from medvalue.core._errors import InputError


def _loader() -> Any:
    import yaml  # here, not at import: `medvalue --help` reads no YAML

    # libyaml parses the message catalogue ten times faster than PyYAML's Python parser.
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """Parse YAML text safely (plain data only), as ``yaml.safe_load`` does."""
    import yaml

    return yaml.load(text, Loader=_loader())


def load_user_yaml(text: str, path: str | Path) -> Any:
    """Parse a YAML file the user gives: plain data, and no anchors or aliases (a few lines of
    nested aliases expand to gigabytes, the "billion laughs"); a spec never needs them."""
    import yaml

    register_input(path)
    for event in yaml.parse(text, Loader=_loader()):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise InputError.at(
                path, "YAML anchors and aliases (& and *) are not accepted", "write the values out"
            )
    return load_yaml(text)


# --- inputs and outputs ------------------------------------------------------------------------

_INPUTS: set[Path] = set()


def _resolved(path: str | Path) -> Path:
    try:
        return Path(path).expanduser().resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


def register_input(path: str | Path) -> None:
    """Remember that ``path`` (a file or a folder) is read: no output may land on it."""
    _INPUTS.add(_resolved(path))


def check_output(path: str | Path) -> Path:
    """``path`` if an output may be written there; an error naming it if it is an input,
    lies inside an input folder, or its folder is a file."""
    target = _resolved(path)
    for source in _INPUTS:
        if target == source or (source.is_dir() and source in target.parents):
            raise InputError.at(
                path,
                "this is an input (or inside an input folder); medvalue never writes over its inputs",
                "choose another output path, e.g. --out reports/",
            )
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError.at(
                    path, f"{parent.name} is a file, not a folder", "choose an output folder"
                )
            break
    return target


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place. The file
    gets the permissions any new file gets here (the umask decides, as for other tools)."""
    check_output(path)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _default_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def staged(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` that becomes ``path`` when the block succeeds (for
    writers that take a path, such as Parquet sinks); removed when it fails."""
    target = check_output(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.chmod(tmp, _default_mode())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


#: Characters a spreadsheet reads as the start of a formula (OWASP, CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: The same as a regular expression, for columns of cells (polars).
FORMULA_REGEX = "^[" + "".join("\\" + c if c in "-" else c for c in FORMULA_START) + "]"


def file_name(text: str, default: str) -> str:
    """``text`` as one file or folder name: every run of characters other than letters (of
    any script), digits, "." and "-" becomes "_", so no name climbs out of its folder."""
    return re.sub(r"[^\w.-]+", "_", text).strip("._") or default


def spreadsheet_safe(text: str) -> str:
    """A text cell that a spreadsheet shows as text: one starting like a formula gets a
    leading apostrophe (OWASP's rule); numbers such as -3.5 are left alone."""
    if text.startswith(FORMULA_START):
        try:
            float(text)
        except ValueError:
            return "'" + text
    return text


# --- scratch -----------------------------------------------------------------------------------

_RUN: Path | None = None


def scratch_root() -> Path:
    """The folder medvalue's private scratch folders live in: ``MEDVALUE_CACHE_DIR`` or a
    per-user folder in the system temp folder, readable by its owner only."""
    given = os.environ.get(CACHE_ENV)
    root = Path(given) if given else Path(tempfile.gettempdir()) / f"medvalue-{os.getuid()}"
    try:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not root.is_dir() or not os.access(root, os.W_OK | os.X_OK):
            raise PermissionError(root)
    except OSError:
        where = CACHE_ENV if given else "the system temp folder"
        raise InputError.at(
            root, "not a folder medvalue can write its scratch files in",
            f"point {CACHE_ENV} to a writable folder (set by {where})",
        ) from None  # fmt: skip
    return root


def remove_stale_scratch() -> None:
    """Remove the scratch folders of medvalue processes that were killed (their pid is gone);
    every command does this when it starts (an unusable folder is reported when scratch
    is first needed, not here: ``--help`` always works)."""
    try:
        root = scratch_root()
    except InputError:
        return
    for old in root.glob("run-*"):
        pid = old.name.split("-")[1] if old.name.count("-") >= 2 else ""
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)


def scratch_dir() -> Path:
    """This process's private scratch folder (mode 0700), removed when the process exits;
    folders left by processes that were killed are removed here, on the next run."""
    global _RUN
    if _RUN is not None and _RUN.exists():
        return _RUN
    remove_stale_scratch()
    root = scratch_root()
    _RUN = Path(tempfile.mkdtemp(prefix=f"run-{os.getpid()}-", dir=root))
    os.chmod(_RUN, 0o700)
    atexit.register(shutil.rmtree, _RUN, True)
    return _RUN


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a scratch or work folder of a dead one is stale)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cache_dir() -> Path:
    """This process's private scratch folder (transcoded copies, split Bundles, Parquet
    copies): mode 0700, removed when the process exits, never beside an input."""
    return scratch_dir()
