"""Every module that defines tables, imported in one place.

Alembic's environment and the schema test import this, so a table defined outside
``mdm/models.py`` (publishing keeps its own) can never be missed by a migration check.
"""

from __future__ import annotations

from sqlmodel import SQLModel

import mdm.models  # noqa: F401
import mdm.publishing.models  # noqa: F401

metadata = SQLModel.metadata
