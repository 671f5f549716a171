"""Tests of the production daemon: calendar, systemd, health, metrics, ops, HA."""
