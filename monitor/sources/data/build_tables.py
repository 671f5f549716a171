"""Regenerate the partner code tables from the published lists stored in ``raw/``.

    python monitor/sources/data/build_tables.py          # rewrite the two tables
    python monitor/sources/data/build_tables.py --check  # exit 1 if a table differs

``gacc_countries.csv``: GACC's trading-partner list (code -> Chinese name, as downloaded from
the GACC query platform: ``raw/gacc_trading_partners_zh.csv``) is matched to ISO 3166-1 by the
Chinese names of Debian's iso-codes (pycountry's zh_CN translation of each country's name,
common name and official name). A row whose name is not exactly one of those names must be in
``GACC_REVIEWED`` below, with the reason; the build fails on any other row, so a new code in a
future list cannot slip in unreviewed.

``census_countries.csv``: the Census Bureau's Schedule C page with ISO codes
(``raw/census_schedule_c_iso.csv``) taken as published, except the few rows in
``CENSUS_REVIEWED``. Every resulting code must be a current ISO 3166-1 alpha-2 code or one of
``monitor.countries.SPECIAL_CODES``.

Provenance of the raw files and every difference from the earlier hand-typed tables:
PROVENANCE.md next to this file.
"""

from __future__ import annotations

import argparse
import csv
import gettext
import io
import sys
from itertools import zip_longest
from pathlib import Path

import pycountry

HERE = Path(__file__).resolve().parent
RAW = HERE / "raw"
GACC_RAW = RAW / "gacc_trading_partners_zh.csv"
CENSUS_RAW = RAW / "census_schedule_c_iso.csv"
GACC_OUT = HERE / "gacc_countries.csv"
CENSUS_OUT = HERE / "census_countries.csv"

# GACC rows whose Chinese name is not an iso-codes zh_CN name: code -> (ISO, English, why).
# Each was read against the list; "variant" means the same country under another usual spelling.
GACC_REVIEWED: dict[str, tuple[str, str, str]] = {
    "103": ("BD", "Bangladesh", "孟加拉国 vs iso-codes 孟加拉"),
    "107": ("KH", "Cambodia", "iso-codes spells 柬埔塞 (variant character)"),
    "110": ("HK", "Hong Kong", "中国香港 vs iso-codes 香港"),
    "121": ("MO", "Macao", "中国澳门 vs iso-codes 澳门"),
    "143": ("TW", "Taiwan", "中国台湾 vs iso-codes 台湾"),
    "146": ("KG", "Kyrgyzstan", "variant of iso-codes 吉尔吉斯坦"),
    "199": ("ZZ", "Other Asia, nes", "residual area: ISO user-assigned ZZ"),
    "207": ("IC", "Canary Islands", "ISO exceptionally reserved IC"),
    "209": ("CF", "Central African Republic", "short form of 中非共和国"),
    "210": ("EA", "Ceuta", "ISO exceptionally reserved EA (Ceuta, Melilla)"),
    "213": ("CG", "Congo", "刚果(布) = Congo-Brazzaville"),
    "252": ("CD", "DR Congo", "刚果(金) = Congo-Kinshasa"),
    "256": ("EA", "Melilla", "ISO exceptionally reserved EA (Ceuta, Melilla)"),
    "299": ("ZZ", "Other Africa, nes", "residual area: ISO user-assigned ZZ"),
    "324": ("MT", "Malta", "iso-codes spells 马尔他 (variant)"),
    "344": ("RU", "Russian Federation", "俄罗斯联邦 vs iso-codes 俄罗斯"),
    "349": ("CS", "Serbia and Montenegro", "historic: withdrawn ISO code CS"),
    "355": ("BA", "Bosnia and Herzegovina", "波黑 is the usual abbreviation"),
    "356": ("VA", "Holy See", "梵蒂冈城国 vs iso-codes 梵蒂冈"),
    "399": ("ZZ", "Other Europe, nes", "residual area: ISO user-assigned ZZ"),
    "408": ("BO", "Bolivia", "多民族玻利维亚国 = Plurinational State of Bolivia"),
    "409": ("BQ", "Bonaire", "part of BQ (Bonaire, Sint Eustatius and Saba)"),
    "417": ("CW", "Curacao", "iso-codes spells 库拉索 (variant)"),
    "423": ("GT", "Guatemala", "iso-codes spells 瓜地马拉 (variant)"),
    "436": ("BQ", "Saba", "part of BQ (Bonaire, Sint Eustatius and Saba)"),
    "438": (
        "SX",
        "Saint Martin",
        "judgment, unconfirmed: listed with the other former Netherlands Antilles parts "
        "(409, 417, 436); French Saint-Martin (MF) has no code of its own",
    ),
    "442": ("TT", "Trinidad and Tobago", "iso-codes spells 特里尼达 (variant)"),
    "447": ("KN", "Saint Kitts and Nevis", "iso-codes spells 圣基茨 (variant)"),
    "449": ("AN", "Netherlands Antilles", "historic: withdrawn ISO code AN"),
    "499": ("ZZ", "Other Latin America, nes", "residual area: ISO user-assigned ZZ"),
    "599": ("ZZ", "Other North America, nes", "residual area: ISO user-assigned ZZ"),
    "604": ("PF", "Gambier Islands", "island group of French Polynesia"),
    "605": ("PF", "Marquesas Islands", "island group of French Polynesia"),
    "612": ("PF", "Society Islands", "island group of French Polynesia"),
    "615": ("PF", "Tuamotu Islands", "island group of French Polynesia"),
    "616": ("PF", "Austral Islands", "island group of French Polynesia"),
    "623": ("PF", "French Polynesia", "iso-codes spells 法属玻利尼西亚 (variant)"),
    "625": ("WF", "Wallis and Futuna", "iso-codes spells 富图纳 (variant)"),
    "699": ("ZZ", "Other Oceania, nes", "residual area: ISO user-assigned ZZ"),
    "701": ("ZZ", "Country unknown", "not a place: ISO user-assigned ZZ"),
    "702": ("ZZ", "UN and international organisations", "not a place: ISO user-assigned ZZ"),
    "999": ("ZZ", "Neutral packing", "origin not stated: ISO user-assigned ZZ"),
}

# Census rows not taken as published: code -> ISO to use (None = leave the row out), and why.
CENSUS_REVIEWED: dict[str, tuple[str | None, str]] = {
    "1000": (None, "the United States itself: the reporter, never a partner"),
    "5082": ("PS", "Census prints GZ (not ISO 3166-1); ISO's PS covers the Gaza Strip"),
    "5083": ("PS", "Census prints WE (not ISO 3166-1); ISO's PS covers the West Bank"),
}


def _rows(path: Path) -> list[list[str]]:
    """CSV rows without the ``#`` provenance lines or empty trailing cells."""
    with path.open(encoding="utf-8", newline="") as fh:
        lines = [line for line in fh if not line.startswith("#")]
    rows = []
    for row in csv.reader(lines):
        while row and row[-1] == "":
            row.pop()
        if row:
            rows.append(row)
    return rows


def zh_names() -> dict[str, str]:
    """iso-codes' Chinese (zh_CN) country names -> alpha-2; ambiguous names are left out."""
    zh = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["zh_CN"])
    seen: dict[str, set[str]] = {}
    for country in pycountry.countries:
        for attr in ("name", "common_name", "official_name"):
            english = getattr(country, attr, None)
            if english:
                seen.setdefault(zh.gettext(english), set()).add(country.alpha_2)
    return {name: next(iter(codes)) for name, codes in seen.items() if len(codes) == 1}


def _known(code: str) -> bool:
    from monitor.countries import SPECIAL_CODES, is_iso_alpha2

    return is_iso_alpha2(code) or code in SPECIAL_CODES


def build_gacc(source: Path = GACC_RAW) -> list[dict[str, str]]:
    """The GACC table rows; SystemExit naming every row that cannot be mapped."""
    from monitor.countries import country_name

    names = zh_names()
    out: list[dict[str, str]] = []
    problems: list[str] = []
    for row in _rows(source)[1:]:
        if len(row) != 2:
            problems.append(f"expected code,name: {row}")
            continue
        code, name_zh = row
        matched = names.get(name_zh)
        if code in GACC_REVIEWED:
            iso2, english, _why = GACC_REVIEWED[code]
            if matched is not None and matched != iso2:
                problems.append(f"{code} {name_zh}: reviewed as {iso2}, iso-codes says {matched}")
        elif matched is not None:
            iso2, english = matched, country_name(matched)
        else:
            problems.append(f"{code} {name_zh}: no iso-codes name matches; review it")
            continue
        if not _known(iso2):
            problems.append(f"{code} {name_zh}: {iso2} is neither ISO nor a special code")
        out.append({"code": code, "iso2": iso2, "name": english, "name_zh": name_zh})
    stale = set(GACC_REVIEWED) - {row["code"] for row in out}
    problems += [f"{code}: reviewed but not in the list" for code in sorted(stale)]
    if problems:
        raise SystemExit("gacc_countries.csv not built:\n  " + "\n  ".join(problems))
    return out


def build_census(source: Path = CENSUS_RAW) -> list[dict[str, str]]:
    """The Census table rows; SystemExit naming every row whose code is not ISO."""
    out: list[dict[str, str]] = []
    problems: list[str] = []
    rows = _rows(source)
    if rows[0] != ["cty_code", "name", "iso"]:
        raise SystemExit(f"{source.name}: unexpected header {rows[0]}")
    for row in rows[1:]:
        if len(row) != 3:
            problems.append(f"expected cty_code,name,iso: {row}")
            continue
        code, name, iso = row
        iso2: str | None = iso
        if code in CENSUS_REVIEWED:
            iso2 = CENSUS_REVIEWED[code][0]
        if iso2 is None:
            continue
        if not _known(iso2):
            problems.append(f"{code} {name}: {iso2} is neither ISO nor a special code")
        out.append({"cty_code": code, "iso2": iso2, "name": name})
    if problems:
        raise SystemExit("census_countries.csv not built:\n  " + "\n  ".join(problems))
    return out


def render(rows: list[dict[str, str]], source: str) -> str:
    """A table's CSV text: a "#" line naming ``raw/<source>``, a header from the first row's
    keys, then the rows."""
    buf = io.StringIO()
    buf.write(
        f"# Generated by build_tables.py from raw/{source} (see PROVENANCE.md); "
        "edit the raw list or the reviewed entries there, not this file.\n"
    )
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def difference(committed: str, generated: str) -> str | None:
    """Where a committed table's text first differs from the generated text ("line N: ..."), or
    None when they are the same."""
    old = committed.splitlines(keepends=True)
    new = generated.splitlines(keepends=True)
    for number, (a, b) in enumerate(zip_longest(old, new), start=1):
        if a != b:
            return f"line {number}: committed {_shown(a, b)}, generated {_shown(b, a)}"
    return None


def _shown(line: str | None, other: str | None) -> str:
    """A line for a message: without its newline, unless the newline is the difference."""
    if line is None:
        return "nothing (the file ends)"
    if other is not None and line.rstrip("\n") == other.rstrip("\n"):
        return repr(line)
    return repr(line.rstrip("\n"))


def main(argv: list[str] | None = None, folder: Path = HERE) -> int:
    """Rewrite both tables in ``folder``, or with ``--check`` compare each committed table with
    the text the raw lists give; 1 when one differs (naming it and its first differing line),
    else 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    tables = [
        (folder / GACC_OUT.name, build_gacc(), GACC_RAW.name),
        (folder / CENSUS_OUT.name, build_census(), CENSUS_RAW.name),
    ]
    differ = False
    for path, rows, source in tables:
        text = render(rows, source)
        if not args.check:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.name}: {len(rows)} codes")
            continue
        try:
            # bytes decoded as they are: a table with other line endings differs too
            problem = difference(path.read_bytes().decode("utf-8"), text)
        except (OSError, UnicodeDecodeError) as exc:
            print(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}", file=sys.stderr)
            differ = True
            continue
        if problem:
            print(f"{path.name} differs from what raw/{source} gives: {problem}", file=sys.stderr)
            differ = True
    return 1 if differ else 0


if __name__ == "__main__":
    if __package__ in (None, ""):
        # run as a script: make ``monitor`` importable from the checkout
        sys.path.insert(0, str(HERE.parents[2]))
    sys.exit(main())
