"""The long-running daemon: APScheduler wiring, calendars, systemd, health and metrics, HA."""
