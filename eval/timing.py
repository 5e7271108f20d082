"""Cron expressions for `python -m eval schedule` and the Reports page's schedule (records/schedule.py)."""

from records.schedule import cron_trigger

__all__ = ["cron_trigger"]
