"""ISO 3166-1 country codes and the short names analysts read, from pycountry.

pycountry carries Debian's iso-codes data, so nothing here is typed from memory. The source
code tables (``monitor/sources/data``) map every partner to an ISO alpha-2 code or to one of
the few documented ``SPECIAL_CODES`` that ISO 3166-1 does not assign to a current country.
"""

from __future__ import annotations

from functools import cache

import pycountry

from monitor.model import WORLD

# Codes our tables use that are not current ISO 3166-1 countries (see sources/data/PROVENANCE.md):
# ISO's exceptionally reserved (IC, EA), withdrawn (CS, AN) and user-assigned (ZZ, XK) codes.
SPECIAL_CODES: dict[str, str] = {
    "IC": "Canary Islands",
    "EA": "Ceuta and Melilla",
    "CS": "Serbia and Montenegro",
    "AN": "Netherlands Antilles",
    "XK": "Kosovo",
    "ZZ": "other or unknown areas",
}


@cache
def alpha2_from_alpha3(code: str) -> str | None:
    """The alpha-2 code of a current ISO 3166-1 alpha-3 code (any case), else None."""
    key = code.strip().upper() if isinstance(code, str) else ""
    if len(key) != 3 or not key.isalpha():
        return None
    country = pycountry.countries.get(alpha_3=key)
    return country.alpha_2 if country is not None else None


def is_iso_alpha2(code: str) -> bool:
    """True for an alpha-2 code assigned to a current ISO 3166-1 country (exact upper case)."""
    return (
        isinstance(code, str)
        and len(code) == 2
        and code.isupper()
        and pycountry.countries.get(alpha_2=code) is not None
    )


@cache
def country_name(alpha2: str) -> str:
    """A short name for messages: "South Korea", "Vietnam"; ``WORLD`` is "the world".

    pycountry's ``common_name`` where it has one (its ``name`` is often the formal
    "Korea, Republic of"), else ``name``; the documented special codes have their own names;
    anything else comes back unchanged so a message never hides the code it was given.
    """
    if alpha2 == WORLD:
        return "the world"
    if not isinstance(alpha2, str) or len(alpha2) != 2:
        return alpha2
    country = pycountry.countries.get(alpha_2=alpha2.upper())
    if country is None:
        return SPECIAL_CODES.get(alpha2.upper(), alpha2)
    return str(getattr(country, "common_name", None) or country.name)
