"""customs-monitor: alerting on official trade statistics.

The public API is small on purpose: the CLI (``customs-monitor``) is the product; these names are
what embedding code and tests rely on.
"""

from monitor.errors import ConfigError, DeliveryError, MonitorError, SourceError, StoreError

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DeliveryError",
    "MonitorError",
    "SourceError",
    "StoreError",
    "__version__",
]
