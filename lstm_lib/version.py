"""The installed lstm_lib's version, as its package metadata records it."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lstm_lib")
except PackageNotFoundError:  # run from a folder that was never installed
    __version__ = "unknown"
