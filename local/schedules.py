"""AWS EventBridge ``rate()``/``cron()`` expressions as periodiq cron specs: exact, or refused.

periodiq speaks 5-field unix cron (minute hour day-of-month month day-of-week, Sunday = 0);
``serverless.yml`` speaks EventBridge (``rate(5 minutes)``, 6-field ``cron()`` with
day-of-week 1-7 = SUN-SAT, ``?`` and a year field). :func:`translate` turns one into the other
only when the cron fires at exactly the same minutes, and raises :class:`ScheduleError` saying
why otherwise. Times are UTC, as on AWS, unless the schedule names an IANA ``timezone``
(Serverless v3's ``method: scheduler``): then :class:`ZonedCronSpec` reads the fields on that
zone's wall clock, with a deliberate rule at daylight-saving changes (see there).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pendulum
import periodiq

#: Month and day-of-week names in AWS numbering (JAN = 1, SUN = 1).
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")

#: How far ahead ``next_valid_date`` looks before giving up, in years (covers 29 February).
_SEARCH_YEARS = 9

#: Minutes in an hour and in a day: what a rate() must divide to have a faithful cron form.
_HOUR_M = 60
_DAY_M = 24 * 60
_UNIT_M = {"minute": 1, "hour": _HOUR_M, "day": _DAY_M}


class ScheduleError(ValueError):
    """A schedule expression the emulator cannot run exactly as AWS would."""


class _Refused(Exception):
    """Why an expression is refused; :func:`translate` adds the function and the expression."""


class UtcCronSpec(periodiq.CronSpec):
    """periodiq's ``CronSpec``, reading every instant in UTC, with its day-of-week bugs fixed.

    periodiq 0.14 keeps day-of-week as 0-6 (Sunday 0, ``7`` also accepted by ``parse``) but:

    - ``validate()`` compares ``isoweekday()`` (Monday 1 … Sunday 7) with those values, so a
      Sunday-only schedule never fires;
    - ``setup()`` sets ``is_dow_restricted`` from ``len(dow) < 7``, which is wrong when both
      0 and 7 appear (``0-5,7`` has seven values yet skips Saturday);
    - ``next_valid_date()`` never resets the smaller fields when it moves a larger one, so
      ``0,30 12 * * *`` after 10:15 gives 12:30 instead of 12:00, and ``0 12 * 3 *`` after
      15 January gives 16 March instead of 1 March.

    Here day-of-week is folded into 0-6 once, in ``setup()``; ``validate()`` uses
    ``isoweekday() % 7``; ``next_valid_date()`` walks month, day, hour, minute in turn.
    Naive datetimes are taken as UTC; aware ones are converted to UTC.
    """

    def setup(
        self,
        m: list[int] | None,
        h: list[int] | None,
        dom: list[int] | None,
        month: list[int] | None,
        dow: list[int] | None,
    ) -> None:
        if dow is not None:
            dow = sorted({d % 7 for d in dow})
        super().setup(m, h, dom, month, dow)

    def __str__(self) -> str:
        return describe(self)

    def validate(self, date: datetime) -> bool:
        d = _utc(date)
        return (
            d.minute in self.minute
            and d.hour in self.hour
            and d.month in self.month
            and self._day_matches(d)
        )

    def next_valid_date(self, last: datetime) -> datetime:
        """The first whole minute strictly after ``last`` that :meth:`validate` accepts, in UTC."""
        n = _utc(last).replace(second=0, microsecond=0) + timedelta(minutes=1)
        horizon = n.year + _SEARCH_YEARS
        while n.year < horizon:
            if n.month not in self.month:
                n = (n.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
            elif not self._day_matches(n):
                n = n.replace(hour=0, minute=0) + timedelta(days=1)
            elif n.hour not in self.hour:
                n = n.replace(minute=0) + timedelta(hours=1)
            elif n.minute not in self.minute:
                n += timedelta(minutes=1)
            else:
                return n
        raise ValueError(f"{self} does not fire within {_SEARCH_YEARS} years of {last}")

    def _day_matches(self, d: datetime) -> bool:
        in_dom = d.day in self.dom
        in_dow = d.isoweekday() % 7 in self.dow
        if self.is_dom_restricted and self.is_dow_restricted:
            return in_dom or in_dow  # unix rule; a translated AWS expression never gets here
        return in_dom and in_dow


class ZonedCronSpec(UtcCronSpec):
    """A cron spec read on the wall clock of an IANA time zone; instants stay in UTC.

    At daylight-saving changes every matching wall-clock time fires exactly once:

    - a time the clocks skip (02:30 on a spring-forward night in Europe/Berlin) fires once, at
      the first instant after the gap (03:00 local), as cron does; EventBridge Scheduler would
      skip it;
    - a time that occurs twice (02:30 on a fall-back night in Europe/Berlin) fires at its first
      occurrence only.

    ``validate`` accepts exactly the instants ``next_valid_date`` yields.
    """

    def __init__(self, *, timezone: str, **fields: list[int]) -> None:
        self.timezone = timezone
        self.zone = ZoneInfo(timezone)
        super().__init__(**fields)

    def __str__(self) -> str:
        return f"{describe(self)} ({self.timezone})"

    def validate(self, date: datetime) -> bool:
        minute = _utc(date).replace(second=0, microsecond=0)
        return self.next_valid_date(minute - timedelta(minutes=1)) == minute

    def next_valid_date(self, last: datetime) -> datetime:
        """The first instant strictly after ``last`` at which the spec fires, in UTC."""
        after = datetime.fromtimestamp(_utc(last).timestamp(), UTC)  # stdlib, not pendulum
        wall = after.astimezone(self.zone).replace(tzinfo=None)
        while True:
            wall = _naive(super().next_valid_date(wall))  # the next matching wall time
            instant = self._instant(wall)
            if instant > after:
                return pendulum.instance(instant)  # as the scheduler's ticks are

    def _instant(self, wall: datetime) -> datetime:
        """When wall-clock ``wall`` happens: its first occurrence, or the end of the gap that
        skips it (the first whole minute on the new offset)."""
        first = wall.replace(tzinfo=self.zone, fold=0)
        second = wall.replace(tzinfo=self.zone, fold=1)
        before, later = first.utcoffset(), second.utcoffset()
        if before is None or later is None or before >= later:  # normal, or the earlier of two
            return first.astimezone(UTC)
        # skipped: the gap ends between these two readings; find its first minute on `later`
        low = int(second.astimezone(UTC).timestamp() // 60)  # still on the old offset
        high = int(first.astimezone(UTC).timestamp() // 60)  # already on the new one
        while high - low > 1:
            middle = (low + high) // 2
            at = datetime.fromtimestamp(middle * 60, UTC)
            if at.astimezone(self.zone).utcoffset() == later:
                high = middle
            else:
                low = middle
        return datetime.fromtimestamp(high * 60, UTC)


def in_zone(spec: UtcCronSpec, timezone: str | None, expression: str) -> UtcCronSpec:
    """A ``cron()`` spec read on ``timezone``'s wall clock (unchanged for None or UTC, and for
    ``rate()`` specs, ``expression``'s kind: a rate is elapsed time, whatever the zone)."""
    if timezone is None or timezone == "UTC" or not expression.strip().startswith("cron("):
        return spec
    return ZonedCronSpec(
        timezone=timezone,
        m=list(spec.minute),
        h=list(spec.hour),
        dom=list(spec.dom),
        month=list(spec.month),
        dow=list(spec.dow),
    )


def translate(expression: str, *, function: str) -> UtcCronSpec:
    """The cron spec that fires exactly when AWS fires ``expression``, or :class:`ScheduleError`.

    ``rate(N minutes|hours|day)`` is accepted when N divides an hour or a day into whole hours.
    AWS anchors a rate at the rule's creation time; the emulator aligns it to the clock instead
    (``rate(5 minutes)`` fires at :00, :05 …, ``rate(6 hours)`` at 00:00, 06:00 …).

    ``cron(minutes hours day-of-month month day-of-week year)`` supports ``*``, ``?``, lists,
    ranges, steps and names; ``L``, ``W``, ``#`` and a year other than ``*`` are refused.
    """
    text = expression.strip()
    try:
        if match := re.fullmatch(r"rate\((.*)\)", text, re.DOTALL):
            return _rate(match[1])
        if match := re.fullmatch(r"cron\((.*)\)", text, re.DOTALL):
            return _cron(match[1])
        if text.startswith("at("):
            raise _Refused("one-time at() schedules are not supported by the emulator")
        raise _Refused("expected rate(value unit) or cron(6 fields)")
    except _Refused as why:
        raise ScheduleError(f"function {function!r}: schedule {expression!r}: {why}") from None


def describe(spec: periodiq.CronSpec) -> str:
    """The spec as a unix cron line, e.g. ``*/5 * * * *`` or ``0 12 * * MON-FRI``."""
    return " ".join(
        [
            _format(spec.minute, 0, 59),
            _format(spec.hour, 0, 23),
            _format(spec.dom, 1, 31),
            _format(spec.month, 1, 12),
            _format(spec.dow, 0, 6, _DAY_NAMES.__getitem__),
        ]
    )


def _rate(body: str) -> UtcCronSpec:
    parts = body.split()
    if len(parts) != 2:
        raise _Refused("rate() takes a value and a unit, e.g. rate(5 minutes)")
    value, unit = parts
    if not re.fullmatch(r"[0-9]+", value) or int(value) == 0:
        raise _Refused(f"rate value {value!r} is not a positive integer")
    n, singular = int(value), unit.removesuffix("s")
    if singular not in _UNIT_M:
        raise _Refused(f"rate unit {unit!r} is not minute(s), hour(s) or day(s)")
    if n == 1 and unit != singular:
        raise _Refused(f"AWS requires the singular {singular!r} when the value is 1")
    if n != 1 and unit == singular:
        raise _Refused(f"AWS requires the plural {singular + 's'!r} when the value is not 1")

    every_m = n * _UNIT_M[singular]
    if every_m < _HOUR_M and _HOUR_M % every_m == 0:
        return _spec(minutes=range(0, 60, every_m))
    if every_m % _HOUR_M == 0 and _DAY_M % every_m == 0:
        return _spec(minutes=[0], hours=range(0, 24, every_m // _HOUR_M))
    if every_m < _HOUR_M:
        why = "does not divide an hour"
    elif every_m > _DAY_M:
        why = "is longer than a day and months have uneven lengths"
    else:
        why = "does not divide a day into whole hours"
    raise _Refused(f"{n} {unit} {why}, so a cron translation would fire at uneven gaps")


@dataclass(frozen=True)
class _Field:
    """One AWS cron field: its name in messages, its bounds and its value names from ``low``."""

    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()


_MINUTE = _Field("minutes", 0, 59)
_HOUR = _Field("hours", 0, 23)
_DOM = _Field("day-of-month", 1, 31)
_MONTH = _Field("month", 1, 12, _MONTH_NAMES)
_DOW = _Field("day-of-week", 1, 7, _DAY_NAMES)
_YEAR = _Field("year", 1970, 2199)

#: One list item: ``*`` or ``a`` or ``a-b``, then an optional ``/step``.
_ITEM = re.compile(r"(?:(\*)|([0-9]+)(?:-([0-9]+))?)(?:/([0-9]+))?")


def _cron(body: str) -> UtcCronSpec:
    fields = body.split()
    if len(fields) != 6:
        raise _Refused(
            "cron() needs 6 fields (minutes hours day-of-month month day-of-week year), "
            f"got {len(fields)}"
        )
    minute, hour, dom, month, dow, year = fields
    if dom == "?" and dow == "?":
        raise _Refused("day-of-month and day-of-week cannot both be '?'")
    if "?" not in (dom, dow):
        raise _Refused("one of day-of-month and day-of-week must be '?' (AWS allows only one)")
    if year != "*":
        _expand(year, _YEAR)
        raise _Refused(f"year {year!r} cannot be honoured by a 5-field cron; use '*'")

    spec = _spec(
        minutes=_expand(minute, _MINUTE),
        hours=_expand(hour, _HOUR),
        doms=_expand(dom, _DOM),
        months=_expand(month, _MONTH),
        dows=[d - 1 for d in _expand(dow, _DOW)],  # AWS SUN = 1, unix SUN = 0
    )
    # A day-of-month that no chosen month has would never fire; no search could end.
    if not any(d <= calendar.monthrange(2028, m)[1] for d in spec.dom for m in spec.month):
        raise _Refused(f"day-of-month {dom!r} never occurs in month {month!r}, so it never fires")
    return spec


def _expand(text: str, field: _Field) -> list[int]:
    """All values one AWS cron field allows, in AWS numbering."""
    if text == "?":
        if field not in (_DOM, _DOW):
            raise _Refused(f"'?' is only allowed in day-of-month or day-of-week, not {field.name}")
        return list(range(field.low, field.high + 1))

    def number(word: re.Match[str]) -> str:
        name = word[0].upper()
        if name in field.names:
            return str(field.low + field.names.index(name))
        if name in ("L", "W", "LW") and field in (_DOM, _DOW):
            raise _Refused(f"{field.name} {text!r}: {name!r} is not supported by the emulator")
        raise _Refused(f"{field.name} {text!r}: unknown name {word[0]!r}")

    numeric = re.sub(r"[A-Za-z]+", number, text)
    if "#" in numeric and field in (_DOM, _DOW):
        raise _Refused(f"{field.name} {text!r}: '#' is not supported by the emulator")

    values: set[int] = set()
    for item in numeric.split(","):
        match = _ITEM.fullmatch(item)
        if match is None:
            raise _Refused(f"{field.name} {text!r}: cannot read {item!r}")
        star, start, end, step = match.groups()
        first = field.low if star else int(start)
        last = int(end) if end else field.high if star or step else first
        for value in (first, last):
            if not field.low <= value <= field.high:
                raise _Refused(
                    f"{field.name} {text!r}: {value} is outside {field.low}-{field.high}"
                )
        if first > last:
            raise _Refused(f"{field.name} {text!r}: range {first}-{last} runs backwards")
        if step is not None and int(step) == 0:
            raise _Refused(f"{field.name} {text!r}: step must be a positive integer")
        values.update(range(first, last + 1, int(step or 1)))
    return sorted(values)


def _spec(
    *,
    minutes: range | list[int],
    hours: range | list[int] = range(24),
    doms: range | list[int] = range(1, 32),
    months: range | list[int] = range(1, 13),
    dows: range | list[int] = range(7),
) -> UtcCronSpec:
    return UtcCronSpec(
        m=list(minutes), h=list(hours), dom=list(doms), month=list(months), dow=list(dows)
    )


def _utc(date: datetime) -> datetime:
    """``date`` in UTC; a naive datetime is taken to be UTC already."""
    if date.tzinfo is None:
        return date.replace(tzinfo=UTC)
    return date.astimezone(UTC)


def _naive(date: datetime) -> datetime:
    """``date``'s fields as a plain naive ``datetime`` (pendulum resolves times a
    daylight-saving change skips by itself; zone maths here needs the stdlib's ``fold``)."""
    return datetime(date.year, date.month, date.day, date.hour, date.minute)


def _format(values: list[int], low: int, high: int, name: Callable[[int], str] = str) -> str:
    """One unix cron field: ``*``, ``*/step``, ``a-high/step`` or a list of values and ranges."""
    if values == list(range(low, high + 1)):
        return "*"
    step = values[1] - values[0] if len(values) > 2 else 0
    even = step > 1 and (high - low + 1) % step == 0  # so that */step never reads as uneven
    if even and values == list(range(values[0], high + 1, step)):
        return f"*/{step}" if values[0] == low else f"{name(values[0])}-{name(high)}/{step}"
    runs: list[list[int]] = []
    for value in values:
        if runs and value == runs[-1][-1] + 1:
            runs[-1].append(value)
        else:
            runs.append([value])
    parts = []
    for run in runs:
        if len(run) > 2:
            parts.append(f"{name(run[0])}-{name(run[-1])}")
        else:
            parts.extend(name(v) for v in run)
    return ",".join(parts)
