"""Settings of the real servers tests/test_http_servers.py starts: Pixtier's own, with
passwords hashed as in the rest of the suite (conftest.py). The real hasher spends 0.24 s
of CPU per sign-in by design, and those tests sign in, or fail to, some 40 times."""

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
