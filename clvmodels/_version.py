"""The package version, in one place (read by the package, its records and pyproject.toml)."""

__version__ = "0.1.0"
