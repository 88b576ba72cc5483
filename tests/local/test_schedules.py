"""AWS ``rate()``/``cron()`` → periodiq: exact translations, refusals, and a correct next tick."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pendulum
import periodiq
import pytest

from local.schedules import (
    ScheduleError,
    UtcCronSpec,
    ZonedCronSpec,
    describe,
    in_zone,
    translate,
)

SATURDAY = pendulum.datetime(2026, 11, 28, 12, 0, tz="UTC")
SUNDAY = pendulum.datetime(2026, 11, 29, 12, 0, tz="UTC")


def unix(expression: str) -> str:
    return describe(translate(expression, function="job"))


def refusal(expression: str) -> str:
    with pytest.raises(ScheduleError) as caught:
        translate(expression, function="job")
    message = str(caught.value)
    assert message.startswith(f"function 'job': schedule {expression!r}: ")
    return message


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("rate(1 minute)", "* * * * *"),
        ("rate(5 minutes)", "*/5 * * * *"),
        ("rate(15 minutes)", "*/15 * * * *"),
        ("rate(30 minutes)", "0,30 * * * *"),
        ("rate(60 minutes)", "0 * * * *"),
        ("rate(180 minutes)", "0 */3 * * *"),
        ("rate(1440 minutes)", "0 0 * * *"),
        ("rate(1 hour)", "0 * * * *"),
        ("rate(2 hours)", "0 */2 * * *"),
        ("rate(12 hours)", "0 0,12 * * *"),
        ("rate(24 hours)", "0 0 * * *"),
        ("rate(1 day)", "0 0 * * *"),
        ("  rate(10 minutes)  ", "*/10 * * * *"),
    ],
)
def test_rates_that_divide_an_hour_or_a_day_become_clock_aligned_crons(
    expression: str, expected: str
) -> None:
    assert unix(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("cron(0 12 * * ? *)", "0 12 * * *"),
        ("cron(0 12 ? * * *)", "0 12 * * *"),
        ("cron(0/15 * * * ? *)", "*/15 * * * *"),
        ("cron(*/5 * * * ? *)", "*/5 * * * *"),
        ("cron(5/15 * * * ? *)", "5-59/15 * * * *"),
        ("cron(10-40/10 8-17 * * ? *)", "10,20,30,40 8-17 * * *"),
        ("cron(0 0 1,15 * ? *)", "0 0 1,15 * *"),
        ("cron(0 0 1-3,10 * ? *)", "0 0 1-3,10 * *"),
        ("cron(0 9 1 jan,JUL ? *)", "0 9 1 1,7 *"),
        ("cron(0 9 1 MAR-may ? *)", "0 9 1 3-5 *"),
        ("cron(0 9 ? 1/3 MON *)", "0 9 * */3 MON"),
        ("cron(0 9 ? 2/3 MON *)", "0 9 * 2-12/3 MON"),
        ("cron(0,45 * * * ? *)", "0,45 * * * *"),
        ("cron(0 12 ? * MON-FRI *)", "0 12 * * MON-FRI"),
        ("cron(0 12 ? * mon-Fri *)", "0 12 * * MON-FRI"),
        ("cron(0 12 ? * 2-6 *)", "0 12 * * MON-FRI"),
        ("cron(0 9 ? * WED *)", "0 9 * * WED"),
        ("cron(0 9 ? * 1/2 *)", "0 9 * * SUN,TUE,THU,SAT"),
        ("cron(15   10 ? *  SUN,SAT *)", "15 10 * * SUN,SAT"),
    ],
)
def test_cron_fields_translate_to_the_same_unix_fields(expression: str, expected: str) -> None:
    assert unix(expression) == expected


@pytest.mark.parametrize(
    ("aws", "unix_dow"),
    [("1", [0]), ("SUN", [0]), ("7", [6]), ("SAT", [6]), ("1-7", list(range(7)))],
)
def test_aws_day_of_week_1_to_7_maps_to_unix_0_to_6(aws: str, unix_dow: list[int]) -> None:
    assert translate(f"cron(0 12 ? * {aws} *)", function="job").dow == unix_dow


def test_a_sunday_only_schedule_fires_on_a_sunday() -> None:
    spec = translate("cron(0 12 ? * SUN *)", function="weekly")
    assert spec.validate(SUNDAY)
    assert not spec.validate(SATURDAY)
    assert not spec.validate(SUNDAY.add(minutes=1))


def test_plain_periodiq_misses_sundays_which_is_why_the_subclass_exists() -> None:
    assert not periodiq.cron("0 12 * * 0").validate(SUNDAY)
    assert UtcCronSpec.parse("0 12 * * 0").validate(SUNDAY)


def test_a_sunday_to_friday_schedule_skips_saturday_only() -> None:
    spec = translate("cron(0 12 ? * SUN-FRI *)", function="job")
    assert not spec.validate(SATURDAY)
    assert spec.validate(SUNDAY)
    assert spec.validate(SATURDAY.subtract(days=1))


def test_every_day_of_the_week_fires_including_sunday() -> None:
    spec = translate("rate(1 day)", function="job")
    assert all(spec.validate(SUNDAY.start_of("day").add(days=d)) for d in range(7))


def test_day_of_week_7_folds_into_0_so_the_restriction_flag_is_right() -> None:
    spec = UtcCronSpec.parse("0 12 * * 0-5,7")
    assert spec.dow == [0, 1, 2, 3, 4, 5]
    assert spec.is_dow_restricted
    assert not UtcCronSpec.parse("0 12 * * 0-7").is_dow_restricted


def test_question_mark_in_day_of_month_leaves_day_of_week_in_charge() -> None:
    spec = translate("cron(0 12 ? * SAT *)", function="job")
    assert spec.validate(SATURDAY)
    assert not spec.validate(SUNDAY)


def test_question_mark_in_day_of_week_leaves_day_of_month_in_charge() -> None:
    spec = translate("cron(0 12 29 * ? *)", function="job")
    assert spec.validate(SUNDAY)
    assert not spec.validate(SATURDAY)


def test_names_containing_l_or_w_are_not_mistaken_for_special_characters() -> None:
    assert translate("cron(0 0 1 JUL ? *)", function="job").month == [7]
    assert translate("cron(0 0 ? * WED *)", function="job").dow == [3]


def test_instants_in_other_time_zones_are_read_in_utc() -> None:
    spec = translate("cron(0 12 ? * SUN *)", function="job")
    paris = pendulum.datetime(2026, 11, 29, 13, 0, tz="Europe/Paris")
    assert spec.validate(paris)
    assert not spec.validate(pendulum.datetime(2026, 11, 29, 12, 0, tz="Europe/Paris"))
    assert spec.next_valid_date(paris.subtract(hours=2)) == SUNDAY


def test_a_29_february_schedule_waits_for_the_next_leap_year() -> None:
    spec = translate("cron(0 0 29 FEB ? *)", function="job")
    start = pendulum.datetime(2026, 1, 1, tz="UTC")
    assert spec.next_valid_date(start) == pendulum.datetime(2028, 2, 29, tz="UTC")


def test_next_tick_resets_smaller_fields_where_plain_periodiq_does_not() -> None:
    spec = translate("cron(0,30 12 * * ? *)", function="job")
    start = pendulum.datetime(2026, 1, 1, 10, 15, tz="UTC")
    assert spec.next_valid_date(start) == pendulum.datetime(2026, 1, 1, 12, 0, tz="UTC")
    march = translate("cron(0 12 * MAR ? *)", function="job")
    in_january = pendulum.datetime(2026, 1, 15, 13, 15, tz="UTC")
    assert march.next_valid_date(in_january) == pendulum.datetime(2026, 3, 1, 12, 0, tz="UTC")


@pytest.mark.parametrize(
    "expression",
    [
        "rate(5 minutes)",
        "rate(2 hours)",
        "cron(5/15 9-17 ? * MON-FRI *)",
        "cron(0 12 ? * SUN,SAT *)",
        "cron(0 9 ? 1/3 2 *)",
        "cron(0 0 1,15 * ? *)",
    ],
)
def test_the_unix_form_parses_back_to_the_same_spec(expression: str) -> None:
    spec = translate(expression, function="job")
    assert UtcCronSpec.parse(describe(spec)) == spec
    assert str(spec) == describe(spec)


# (expression, part of the reason)
RATE_REFUSALS = [
    ("rate(7 minutes)", "7 minutes does not divide an hour"),
    ("rate(45 minutes)", "does not divide an hour"),
    ("rate(90 minutes)", "does not divide a day into whole hours"),
    ("rate(5 hours)", "5 hours does not divide a day"),
    ("rate(48 hours)", "longer than a day"),
    ("rate(2 days)", "longer than a day"),
    ("rate(1 minutes)", "singular 'minute'"),
    ("rate(1 days)", "singular 'day'"),
    ("rate(5 minute)", "plural 'minutes'"),
    ("rate(2 hour)", "plural 'hours'"),
    ("rate(0 minutes)", "not a positive integer"),
    ("rate(-5 minutes)", "not a positive integer"),
    ("rate(1.5 hours)", "not a positive integer"),
    ("rate(five minutes)", "not a positive integer"),
    ("rate(2 weeks)", "not minute(s), hour(s) or day(s)"),
    ("rate(5 Minutes)", "not minute(s), hour(s) or day(s)"),
    ("rate(5)", "a value and a unit"),
    ("rate()", "a value and a unit"),
]

CRON_REFUSALS = [
    ("cron(0 12 * * ?)", "needs 6 fields"),
    ("cron(0 12 * * ? * *)", "needs 6 fields"),
    ("cron()", "needs 6 fields"),
    ("cron(0 12 * * * *)", "must be '?'"),
    ("cron(0 12 1 * MON *)", "must be '?'"),
    ("cron(0 12 ? * ? *)", "cannot both be '?'"),
    ("cron(0 12 ? * MON 2027)", "year '2027' cannot be honoured"),
    ("cron(0 12 ? * MON 2026-2030)", "cannot be honoured"),
    ("cron(0 12 ? * MON ?)", "'?' is only allowed"),
    ("cron(0 12 ? * MON 1969)", "outside 1970-2199"),
    ("cron(? 12 * * ? *)", "'?' is only allowed"),
    ("cron(0 12 ?,1 * ? *)", "cannot read '?'"),
    ("cron(0 12 L * ? *)", "'L' is not supported by the emulator"),
    ("cron(0 12 LW * ? *)", "'LW' is not supported by the emulator"),
    ("cron(0 12 15W * ? *)", "'W' is not supported by the emulator"),
    ("cron(0 12 L-2 * ? *)", "'L' is not supported by the emulator"),
    ("cron(0 12 ? * 6L *)", "'L' is not supported by the emulator"),
    ("cron(0 12 ? * L *)", "'L' is not supported by the emulator"),
    ("cron(0 12 ? * FRI#3 *)", "'#' is not supported by the emulator"),
    ("cron(0 12 ? * 6#3 *)", "'#' is not supported by the emulator"),
    ("cron(60 12 * * ? *)", "minutes '60': 60 is outside 0-59"),
    ("cron(0 24 * * ? *)", "hours '24': 24 is outside 0-23"),
    ("cron(0 12 0 * ? *)", "day-of-month '0': 0 is outside 1-31"),
    ("cron(0 12 32 * ? *)", "outside 1-31"),
    ("cron(0 12 1 13 ? *)", "month '13': 13 is outside 1-12"),
    ("cron(0 12 ? * 0 *)", "day-of-week '0': 0 is outside 1-7"),
    ("cron(0 12 ? * 8 *)", "outside 1-7"),
    ("cron(0 12 ? * 1-9 *)", "outside 1-7"),
    ("cron(0 12 ? * FUNDAY *)", "unknown name 'FUNDAY'"),
    ("cron(0 12 1 JAN-FOO ? *)", "unknown name 'FOO'"),
    ("cron(0 NOON * * ? *)", "unknown name 'NOON'"),
    ("cron(0 12 1,,2 * ? *)", "cannot read ''"),
    ("cron(0 12 1, * ? *)", "cannot read ''"),
    ("cron(0/0 12 * * ? *)", "step must be a positive integer"),
    ("cron(*/ 12 * * ? *)", "cannot read '*/'"),
    ("cron(0 17-9 * * ? *)", "range 17-9 runs backwards"),
    ("cron(0 12 ? * FRI-MON *)", "runs backwards"),
    ("cron(0 0 30 FEB ? *)", "never occurs"),
    ("cron(0 0 31 APR,JUN,SEP,NOV ? *)", "never occurs"),
]

OTHER_REFUSALS = [
    ("at(2026-11-29T12:00:00)", "at() schedules are not supported"),
    ("every 5 minutes", "expected rate(value unit) or cron(6 fields)"),
    ("rate(5 minutes", "expected rate"),
    ("", "expected rate"),
    ("0 12 * * *", "expected rate"),
]


@pytest.mark.parametrize(("expression", "reason"), RATE_REFUSALS + CRON_REFUSALS + OTHER_REFUSALS)
def test_untranslatable_expressions_are_refused_naming_the_function(
    expression: str, reason: str
) -> None:
    assert reason in refusal(expression)


def test_a_refusal_reads_as_one_sentence() -> None:
    with pytest.raises(ScheduleError) as caught:
        translate("rate(7 minutes)", function="retention")
    assert str(caught.value) == (
        "function 'retention': schedule 'rate(7 minutes)': 7 minutes does not divide an hour, "
        "so a cron translation would fire at uneven gaps"
    )
    assert isinstance(caught.value, ValueError)


PROPERTY_EXPRESSIONS = [
    "rate(1 minute)",
    "rate(5 minutes)",
    "rate(2 hours)",
    "rate(1 day)",
    "cron(0,30 12 * * ? *)",
    "cron(15 9 ? * MON-FRI *)",
    "cron(0 12 ? * SUN *)",
    "cron(0 12 ? * SUN-FRI *)",
    "cron(0 8-17/3 ? * 2,4,6 *)",
    "cron(0 0 1 * ? *)",
    "cron(30 23 31 * ? *)",
    "cron(0 12 1 MAR ? *)",
    "cron(45 23 29 FEB ? *)",
]

PROPERTY_STARTS = [
    pendulum.datetime(2026, 2, 27, 23, 58, tz="UTC"),
    pendulum.datetime(2028, 2, 28, 23, 59, tz="UTC"),
    pendulum.datetime(2026, 11, 28, 12, 0, tz="UTC"),
    pendulum.datetime(2026, 11, 29, 12, 0, tz="UTC"),
    pendulum.datetime(2026, 12, 31, 23, 59, 30, tz="UTC"),
    pendulum.datetime(2026, 6, 15, 10, 15, 42, 500_000, tz="UTC"),
]

#: How far the brute-force search looks ahead, in minutes (8 days).
HORIZON_M = 8 * 24 * 60


@pytest.mark.parametrize("expression", PROPERTY_EXPRESSIONS)
def test_next_valid_date_is_the_first_later_minute_that_validates(expression: str) -> None:
    spec = translate(expression, function="job")
    for start in PROPERTY_STARTS:
        first_minute = datetime.fromtimestamp(start.timestamp(), UTC).replace(
            second=0, microsecond=0
        )
        candidates = (first_minute + timedelta(minutes=k) for k in range(1, HORIZON_M + 1))
        expected = next((t for t in candidates if spec.validate(t)), None)
        got = spec.next_valid_date(start)
        if expected is None:
            assert got > first_minute + timedelta(minutes=HORIZON_M), (expression, start)
        else:
            assert got == expected, (expression, start)
        assert spec.validate(got)


# --- schedules with an IANA timezone (Serverless v3 ``method: scheduler``) -------------------


def zoned(expression: str, timezone: str) -> ZonedCronSpec:
    spec = in_zone(translate(expression, function="job"), timezone, expression)
    assert isinstance(spec, ZonedCronSpec)
    return spec


def local_times(spec: ZonedCronSpec, day: str) -> list[str]:
    return [t.astimezone(spec.zone).strftime("%H:%M") for t in firings(spec, day)]


def firings(spec: UtcCronSpec, day: str) -> list[datetime]:
    """Every instant ``spec`` fires at from ``day`` 00:00 UTC to the next day's 00:00 UTC,
    found minute by minute with ``validate`` and checked against ``next_valid_date``."""
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    minutes = [start + timedelta(minutes=m) for m in range(24 * 60)]
    found = [m for m in minutes if spec.validate(m)]
    walked, at = [], start - timedelta(minutes=1)
    while (at := spec.next_valid_date(at)) < start + timedelta(days=1):
        walked.append(at)
    assert walked == found, "validate and next_valid_date agree"
    return found


def test_a_zoned_schedule_fires_at_local_wall_clock_time_in_and_out_of_summer_time() -> None:
    spec = zoned("cron(30 2 * * ? *)", "Europe/Berlin")
    assert firings(spec, "2026-01-15") == [datetime(2026, 1, 15, 1, 30, tzinfo=UTC)]  # CET
    assert firings(spec, "2026-07-15") == [datetime(2026, 7, 15, 0, 30, tzinfo=UTC)]  # CEST
    assert str(spec) == "30 2 * * * (Europe/Berlin)"


def test_a_0230_daily_job_runs_once_on_the_spring_forward_day_when_0230_does_not_exist() -> None:
    # 29 March 2026, Europe/Berlin: 02:00 CET jumps to 03:00 CEST (01:00 UTC).
    spec = zoned("cron(30 2 * * ? *)", "Europe/Berlin")
    assert firings(spec, "2026-03-28") == [datetime(2026, 3, 28, 1, 30, tzinfo=UTC)]
    fired = firings(spec, "2026-03-29")
    assert fired == [datetime(2026, 3, 29, 1, 0, tzinfo=UTC)]  # once, as the gap ends
    assert fired[0].astimezone(spec.zone).strftime("%H:%M %Z") == "03:00 CEST"
    assert firings(spec, "2026-03-30") == [datetime(2026, 3, 30, 0, 30, tzinfo=UTC)]


def test_a_0230_daily_job_runs_once_not_twice_on_the_fall_back_day() -> None:
    # 25 October 2026, Europe/Berlin: 03:00 CEST falls back to 02:00 CET, so 02:30 happens twice.
    spec = zoned("cron(30 2 * * ? *)", "Europe/Berlin")
    fired = firings(spec, "2026-10-25")
    assert fired == [datetime(2026, 10, 25, 0, 30, tzinfo=UTC)]  # the first 02:30 (CEST) only
    assert not spec.validate(datetime(2026, 10, 25, 1, 30, tzinfo=UTC))  # the second (CET)
    assert firings(spec, "2026-10-26") == [datetime(2026, 10, 26, 1, 30, tzinfo=UTC)]


def test_every_wall_clock_time_fires_once_across_both_changes_in_new_york() -> None:
    spec = zoned("cron(0/30 * * * ? *)", "America/New_York")
    spring = local_times(spec, "2026-03-08")
    assert "02:00" not in spring and "02:30" not in spring and spring.count("03:00") == 1
    fall = local_times(spec, "2026-11-01")
    assert fall.count("01:00") == 1 and fall.count("01:30") == 1  # not again after 02:00 EDT


def test_a_rate_reads_elapsed_time_whatever_the_timezone() -> None:
    rate = in_zone(translate("rate(1 hour)", function="job"), "Asia/Kolkata", "rate(1 hour)")
    assert rate.validate(datetime(2026, 3, 29, 1, 0, tzinfo=UTC))
    assert not isinstance(rate, ZonedCronSpec)
