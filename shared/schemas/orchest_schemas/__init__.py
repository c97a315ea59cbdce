"""Contracts between the Orchest services: imported by every service, imports none."""

from importlib.metadata import version as _version

__version__ = _version("orchest-schemas")
