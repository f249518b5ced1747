"""Singer tap for Sitecore CDP."""

__version__ = "0.1.0"
