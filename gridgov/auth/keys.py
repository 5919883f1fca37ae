"""The app's secret: it signs session cookies and keys the hashes of personal data.

``GRIDGOV_SECRET_KEY`` when set; otherwise one is generated once and kept in the instance
folder, created atomically so that gunicorn workers and the command line, starting together,
all read the same key.
"""

import os
import secrets
import time
from pathlib import Path

SECRET_FILE = "secret_key"


def load_or_create(instance_path: str) -> str:
    path = Path(instance_path) / SECRET_FILE
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    except OSError as error:  # a read-only instance folder: name the settings that mend it
        raise ValueError(f"GRIDGOV_SECRET_KEY is not set, and no key can be kept in {path} ({error.strerror}): "
                         "set GRIDGOV_SECRET_KEY, or GRIDGOV_INSTANCE_PATH to a folder the service may write") from None
    with os.fdopen(descriptor, "w") as file:
        file.write(secrets.token_urlsafe(48))
    return _read(path)


def _read(path: Path) -> str:
    # Another process may have created the file a moment ago and not yet written it.
    for _ in range(50):
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.02)
    raise RuntimeError(f"{path} is empty; delete it or set GRIDGOV_SECRET_KEY")
