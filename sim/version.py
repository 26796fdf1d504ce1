"""The hedgesim version (a leaf module: import it from anywhere without importing ``sim``)."""

__version__ = "0.1.0"
