"""Where the bundled defaults live, in a source checkout and after a plain ``pip install .``.

The wheel carries the top-level ``rules/`` and ``templates/`` folders as
``monitor/_bundled/{rules,templates}``; a source checkout (editable install, tests) uses the
top-level folders directly.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def bundled_path(name: str) -> Path:
    """The bundled ``rules`` or ``templates`` folder."""
    installed = _PACKAGE / "_bundled" / name
    if installed.is_dir():
        return installed
    checkout = _PACKAGE.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"bundled {name!r} folder not found (looked in {installed} and "
        f"{checkout}); the installation is incomplete"
    )


def default_dataset() -> Path:
    """China's rare-earth magnet exports (GACC 85051110), see monitor/data/PROVENANCE.md."""
    return _PACKAGE / "data" / "china_rare_earth_magnet_exports.csv"
