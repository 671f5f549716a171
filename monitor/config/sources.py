"""Typed options of every source type, chosen by ``type`` (see docs/sources.md).

A new source type is one model here (``type: Literal["name"]``, ``implementation``) added to
``AnySourceOptions``; the connector class sets ``Options`` to it.
"""

from __future__ import annotations

import codecs
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, SecretStr
from pydantic_core import PydanticCustomError

from monitor.config.daemon import ScheduleOptions
from monitor.config.options import FLOAT, INT, TEXT_LIST, Code, Codes, text_list_schema

InitialMode = Literal["alert_latest", "backfill", "alert_all"]
# Retry-After longer than this is not waited for inside one fetch: the scheduler retries later.
DEFAULT_MAX_WAIT = 60.0


class SourceOptions(ScheduleOptions):
    """Options every source accepts besides its own."""

    #: "module:Class" of the connector, imported only when the source is built
    implementation: ClassVar[str]

    type: str = ""  # each type's model fixes it (a Literal)
    initial: InitialMode | None = Field(
        default=None, description="first poll of this source (default: the top-level initial)"
    )
    failure_alert_after: Annotated[int, Field(ge=1), INT] | None = Field(
        default=None, description="failed polls in a row before an ops notice"
    )
    labels: dict[str, str] = Field(default_factory=dict)

    @property
    def link(self) -> str | None:
        """Where a reader finds the source's data (a message's link); secrets are redacted
        by the caller."""
        return None


class HttpOptions(SourceOptions):
    """Options of the sources that fetch over HTTP(S): request timeout and a custom CA."""

    timeout: Annotated[float, Field(gt=0), FLOAT] | None = Field(
        default=None, description="seconds for connect and read (default 10 s and 60 s)"
    )
    ca_bundle: str | None = Field(default=None, description="a custom CA file")


class PacedHttpOptions(HttpOptions):
    """HTTP sources that pace their requests and wait out a short Retry-After."""

    rate_limit: Annotated[float, Field(ge=0), FLOAT] | None = Field(
        default=None, description="the smallest gap between two requests, in seconds"
    )
    max_wait: Annotated[float, Field(ge=0), FLOAT] = Field(
        default=DEFAULT_MAX_WAIT,
        description="the longest Retry-After one fetch waits out, in seconds",
    )


class KeyOptions(PacedHttpOptions):
    """Paced HTTP sources with an optional API key, given as ``key`` or ``key_file``."""

    key: SecretStr | None = Field(default=None, description="API key (use ${VAR})")
    key_file: str | None = Field(default=None, description="a file whose first line is the key")


def _encoding(value: str) -> str:
    try:
        codecs.lookup(value)
    except LookupError:
        raise PydanticCustomError(
            "option_value", "is not a known encoding (e.g. utf-8, gb18030, cp1252, utf-16)"
        ) from None
    return value


class FileOptions(SourceOptions):
    """A canonical CSV or Parquet file on disk (``type: file``) and what to do with bad rows."""

    implementation: ClassVar[str] = "monitor.sources.file:FileSource"
    type: Literal["file"] = "file"
    path: str = Field(description="canonical CSV or Parquet file")
    encoding: Annotated[str, AfterValidator(_encoding)] | None = None
    bad_rows: Literal["refuse", "skip"] = "refuse"


class ReplayOptions(SourceOptions):
    """A dataset published month by month on the clock (``type: replay``; demo and tests)."""

    implementation: ClassVar[str] = "monitor.sources.replay:ReplaySource"
    type: Literal["replay"] = "replay"
    path: str | None = Field(default=None, description="default: the bundled dataset")
    release_day: Annotated[int, Field(ge=1, le=28), INT] = 20
    lag_months: Annotated[int, Field(ge=0), INT] = 1


class UrlOptions(PacedHttpOptions):
    """A canonical CSV or Parquet file fetched from a URL (``type: url``)."""

    implementation: ClassVar[str] = "monitor.sources.url:UrlSource"
    type: Literal["url"] = "url"
    url: str
    format: Literal["csv", "parquet"] | None = Field(
        default=None, description="default: from the URL, the Content-Type or the body"
    )

    @property
    def link(self) -> str | None:
        return self.url


class GaccOptions(HttpOptions):
    """China customs (``type: gacc``): a drop folder of downloads, optionally fed from a URL."""

    implementation: ClassVar[str] = "monitor.sources.gacc:GaccSource"
    type: Literal["gacc"] = "gacc"
    path: str = Field(description="drop folder for GACC CSV / .xlsx downloads")
    url: str | None = Field(default=None, description="also poll this URL")
    flow: Literal["export", "import"] | None = Field(
        default=None, description="default: from the file name"
    )
    archive: bool = Field(default=True, description="move ingested files to <path>/done/")

    @property
    def link(self) -> str | None:
        return self.url


ComtradeFlow = Literal["X", "M", "RX", "RM"]
DEFAULT_COMTRADE_FLOWS: tuple[ComtradeFlow, ...] = ("X", "M")


class ComtradeOptions(KeyOptions):
    """UN Comtrade (``type: comtrade``): reporters, partners, commodities, flows and depth."""

    implementation: ClassVar[str] = "monitor.sources.comtrade:ComtradeSource"
    type: Literal["comtrade"] = "comtrade"
    reporter: Codes = Field(description="M49 code(s), e.g. 156")
    partner: Codes | None = Field(default=None, description="default: all partners")
    commodity: Codes
    flow: Annotated[
        list[ComtradeFlow], TEXT_LIST, text_list_schema({"enum": ["X", "M", "RX", "RM"]})
    ] = Field(default_factory=lambda: list(DEFAULT_COMTRADE_FLOWS))
    frequency: Literal["M", "A"] = "M"
    months: Annotated[int, Field(ge=1), INT] = 12
    years: Annotated[int, Field(ge=1), INT] = 3
    base_url: str = "https://comtradeapi.un.org"
    max_records: Annotated[int, Field(ge=1), INT] | None = None


class CensusOptions(KeyOptions):
    """US Census international trade (``type: census``): one endpoint and HS commodity."""

    implementation: ClassVar[str] = "monitor.sources.census:CensusSource"
    type: Literal["census"] = "census"
    endpoint: Literal["imports", "exports"]
    commodity: Code = Field(description="HS2/4/6/10; a trailing * is a prefix")
    level: str | None = Field(default=None, description="COMM_LVL, e.g. HS6 (default: by code)")
    countries: Codes | None = Field(default=None, description='CTY_CODEs; "-" = all countries')
    months: Annotated[int, Field(ge=1), INT] = 13
    base_url: str = "https://api.census.gov/data/timeseries/intltrade"


EurostatFlow = Literal["import", "export", "1", "2"]
DEFAULT_EUROSTAT_FLOWS: tuple[EurostatFlow, ...] = ("import", "export")


class EurostatOptions(PacedHttpOptions):
    """Eurostat Comext DS-045409 (``type: eurostat``): reporters, partners, products, flows."""

    implementation: ClassVar[str] = "monitor.sources.eurostat:EurostatSource"
    type: Literal["eurostat"] = "eurostat"
    reporter: Codes
    partner: Codes
    product: Codes
    flow: Annotated[
        list[EurostatFlow], TEXT_LIST, text_list_schema({"enum": ["import", "export", "1", "2"]})
    ] = Field(default_factory=lambda: list(DEFAULT_EUROSTAT_FLOWS))
    months: Annotated[int, Field(ge=1), INT] = 13
    base_url: str = "https://ec.europa.eu/eurostat/api/comext/dissemination/sdmx/2.1/data/DS-045409"


AnySourceOptions = Annotated[
    FileOptions
    | UrlOptions
    | GaccOptions
    | ComtradeOptions
    | CensusOptions
    | EurostatOptions
    | ReplayOptions,
    Field(discriminator="type"),
]

__all__ = [
    "DEFAULT_MAX_WAIT",
    "AnySourceOptions",
    "CensusOptions",
    "ComtradeOptions",
    "EurostatOptions",
    "FileOptions",
    "GaccOptions",
    "HttpOptions",
    "InitialMode",
    "KeyOptions",
    "PacedHttpOptions",
    "ReplayOptions",
    "SourceOptions",
    "UrlOptions",
]
