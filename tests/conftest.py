"""Every test process acts as the platform admin ``ops`` unless a test says otherwise (tests/identities.py):
commands that read interviews need an identity, and tests of other behaviour should not each set one."""

from __future__ import annotations

import os

from tests.identities import identity_env

for _name, _value in identity_env("ops").items():
    os.environ.setdefault(_name, _value)
