"""Only the native extension is declared here; pyproject.toml holds all other metadata.

The extension is optional: on a machine without a C compiler the install still succeeds and
the agent tokenises in SQL (same tokens, several times slower; `fedscreen bench tokens` and
`fedscreen-agent doctor` say which path is in use).
"""

from setuptools import Extension, setup

# _hmac.c: HMAC-SHA256 and the Python functions; _hmac_norm.c: person/org normalisation.
setup(
    ext_modules=[
        Extension("fedscreen._hmac", ["fedscreen/_hmac.c", "fedscreen/_hmac_norm.c"], optional=True)
    ]
)
