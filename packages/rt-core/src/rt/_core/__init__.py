"""rt's private core. Nothing here is public API: import from :mod:`rt` or :mod:`rt.lowlevel`."""
