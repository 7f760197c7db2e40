"""What the embedded mode keeps on disk, made on first use rather than at settings import.

``manage.py`` and the WSGI entry point call :func:`prepare` before Django starts. It makes
the folders the settings name (``PIXTIER_LOCAL_DIRS``: the SQLite database's, static files')
and keeps a generated SECRET_KEY in ``var/secret_key``. A deployment that gives its key and
database and ships its static files finds nothing to make: it runs on a read-only
filesystem.
"""

import os

from django.conf import settings


def prepare() -> None:
    for folder in settings.PIXTIER_LOCAL_DIRS:
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
    key_file = settings.PIXTIER_SECRET_KEY_FILE
    if key_file is None:
        return
    if not key_file.exists():
        # Written aside, then linked into place: of processes starting together, the first
        # one's key becomes everyone's, and nobody reads a half-written file.
        key_file.parent.mkdir(parents=True, exist_ok=True)
        draft = key_file.with_name(f".{key_file.name}.{os.getpid()}")
        draft.write_text(settings.SECRET_KEY)
        draft.chmod(0o600)
        try:
            os.link(draft, key_file)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    settings.SECRET_KEY = key_file.read_text().strip()
