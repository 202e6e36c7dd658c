"""Exceptions raised by inferwatch.

inferwatch raises only at configuration time and from explicit API calls; on
the request path it never raises into the wrapped call (failures there are
counted instead, see ``inferwatch.self`` metrics).

::

    InferwatchError
    ├── ConfigurationError      (also a ValueError) an option or key is invalid
    └── MissingDependencyError  (also an ImportError) an optional package is absent
"""

from __future__ import annotations

__all__ = ["ConfigurationError", "InferwatchError", "MissingDependencyError"]


class InferwatchError(Exception):
    """Base class of every exception inferwatch raises."""


class ConfigurationError(InferwatchError, ValueError):
    """An option, environment variable or key is invalid; the message names it."""


class MissingDependencyError(InferwatchError, ImportError):
    """An optional package is needed for the feature that was asked for."""
