"""Rendering: the sandboxed Jinja environment, analyst filters, charts and the backtest report."""

from monitor.render.env import TemplateEnv

__all__ = ["TemplateEnv"]
