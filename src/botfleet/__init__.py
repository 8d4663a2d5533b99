"""botfleet: declarative crypto trading bots.

The package version is read from the installed metadata so that `botfleet --version`, the
wheel and pyproject.toml can never disagree.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("botfleet")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
