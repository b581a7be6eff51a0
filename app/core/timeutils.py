"""UTC time helpers. Stored times are truncated to milliseconds, like MongoDB's BSON dates."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def as_utc(value: datetime) -> datetime:
    """Naive datetimes from clients are read as UTC; aware ones are converted to UTC.

    A time within a day of the calendar's ends may not exist in UTC (`0001-01-01T00:00+01:00`); it is
    clamped to the nearest instant that does, which is what a filter bound that far out means anyway.
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return (datetime.min if value.year == 1 else datetime.max).replace(tzinfo=UTC)


def iso_ms(value: datetime) -> str:
    """`2026-01-15T10:30:00.000Z`: the API's only time format."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}Z"
