"""Only the native extension is declared here; pyproject.toml holds all other metadata."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("fedscreen._hmac", ["fedscreen/_hmac.c"])])
