"""Cron expressions for `python -m eval schedule`."""

from apscheduler.triggers.cron import CronTrigger


def cron_trigger(expression: str) -> CronTrigger:
    """A trigger from 5 crontab fields (minute hour day month weekday), or 6 with seconds first."""
    fields = expression.split()
    if len(fields) == 5:
        return CronTrigger.from_crontab(expression)
    if len(fields) == 6:
        second, minute, hour, day, month, weekday = fields
        return CronTrigger(second=second, minute=minute, hour=hour, day=day, month=month, day_of_week=weekday)
    raise ValueError(f"'{expression}' has {len(fields)} fields; give 5 (crontab) or 6 (seconds first)")
