"""Typed readers for environment variables that fail loudly on a bad value."""

import os
import secrets
import tempfile
from pathlib import Path


class ImproperEnvironment(ValueError):
    pass


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ImproperEnvironment(f"{name}={raw!r} is not a boolean (use true or false)")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperEnvironment(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ImproperEnvironment(f"{name}={value} must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise ImproperEnvironment(f"{name}={value} must be at most {maximum}")
    return value


def env_ratio(name: str, default: str = "") -> tuple[int, int] | None:
    """'N/M' as (N, M), both positive; empty means None."""
    raw = os.environ.get(name, default).strip()
    if not raw:
        return None
    parts = raw.split("/")
    try:
        count, days = (int(part) for part in parts)
    except ValueError:
        raise ImproperEnvironment(f"{name}={raw!r} must look like N/M, e.g. 3/30") from None
    if count < 1 or days < 1:
        raise ImproperEnvironment(f"{name}={raw!r}: both numbers must be at least 1")
    return count, days


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def secret_key_file(path: Path) -> str:
    """A random key kept in a file, for a single machine that did not set SECRET_KEY.

    Several processes may start at the same moment on a fresh machine (web, worker, beat): the key
    is written to a temporary file first, then linked to its name, which fails if the name exists.
    So the file appears whole or not at all, the first process to link wins, and the others read
    its key. Several machines must share one SECRET_KEY, set in the environment.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(50))
                handle.flush()
                os.fsync(handle.fileno())
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process linked its key first: use that one
        finally:
            os.unlink(temporary)
    key = path.read_text().strip()
    if not key:
        raise ImproperEnvironment(f"{path} is empty: delete it (a new key is made) or set SECRET_KEY")
    return key
