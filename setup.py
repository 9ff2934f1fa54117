"""Only the native extension is declared here; pyproject.toml holds all other metadata."""

from setuptools import Extension, setup

# _hmac.c: HMAC-SHA256 and the Python functions; _hmac_norm.c: person/org normalisation.
setup(ext_modules=[Extension("fedscreen._hmac", ["fedscreen/_hmac.c", "fedscreen/_hmac_norm.c"])])
