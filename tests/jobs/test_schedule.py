"""Schedule math (docs/product.md §3): explicit DST cases per zone, its examples, validation,
and hypothesis properties checked against a brute-force reading of the rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs import schedule as sched
from jobs import series


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(zone: str, *args) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))


def make(kind: str, at: str = "06:30", zone: str = "Europe/London", **extra) -> sched.Schedule:
    return sched.parse({"kind": kind, "time": at, "timezone": zone, **extra}, "UTC")


def run_times(schedule, after, count, series_start=None):
    return [w.run_at for w in series.upcoming(schedule, after, count, series_start)]


def walls(schedule, instants):
    return [i.astimezone(schedule.tz).strftime("%m-%d %H:%M %Z") for i in instants]


# -- docs/product.md §3 examples ------------------------------------------------------------

def test_every_4_hours_from_0630_runs_at_the_same_six_times_every_day():
    s = make("hourly", "06:30", "UTC", every=4)
    runs = run_times(s, utc(2026, 3, 2, 0, 0), 12)
    assert [r.strftime("%H:%M") for r in runs[:6]] == \
        ["02:30", "06:30", "10:30", "14:30", "18:30", "22:30"]
    assert runs[6] == utc(2026, 3, 3, 2, 30)


def test_every_3_months_on_the_1st_created_in_january():
    s = make("monthly", "06:30", "Europe/London", every=3, day=1)
    created = local("Europe/London", 2026, 1, 15, 12, 0)
    runs = run_times(s, created, 4, series_start=created)
    assert [r.astimezone(s.tz).strftime("%b %d %H:%M") for r in runs] == \
        ["Feb 01 06:30", "May 01 06:30", "Aug 01 06:30", "Nov 01 06:30"]


def test_monthly_created_on_the_day_before_the_time_runs_that_day():
    s = make("monthly", "06:30", "UTC", every=3, day=1)
    created = utc(2026, 1, 1, 6, 0)
    assert sched.first_run(s, created) == utc(2026, 1, 1, 6, 30)
    created = utc(2026, 1, 1, 6, 30)  # exactly at the time: strictly after → next month
    assert sched.first_run(s, created) == utc(2026, 2, 1, 6, 30)


def test_first_monthly_window_is_x_months_back():
    s = make("monthly", "06:30", "UTC", every=3, day=1)
    created = utc(2026, 1, 15)
    first = series.upcoming(s, created, 1, series_start=created)[0]
    assert (first.start, first.end) == (utc(2025, 11, 1, 6, 30), utc(2026, 2, 1, 6, 30))


# -- DST, zone by zone ----------------------------------------------------------------------

def test_london_daily_in_the_gap_moves_forward_by_the_gap():
    s = make("daily", "01:30", "Europe/London")
    runs = run_times(s, local("Europe/London", 2026, 3, 28, 12), 3)
    assert walls(s, runs) == ["03-29 02:30 BST", "03-30 01:30 BST", "03-31 01:30 BST"]
    windows = series.upcoming(s, local("Europe/London", 2026, 3, 28, 12), 2)
    assert windows[0].end - windows[0].start == timedelta(hours=24)  # 01:30Z → 01:30Z
    assert windows[1].end - windows[1].start == timedelta(hours=23)


def test_london_daily_windows_are_23_and_25_hours_on_dst_days():
    s = make("daily", "06:30", "Europe/London")
    spring = series.upcoming(s, local("Europe/London", 2026, 3, 28, 12), 1)[0]
    autumn = series.upcoming(s, local("Europe/London", 2026, 10, 24, 12), 1)[0]
    assert spring.end - spring.start == timedelta(hours=23)
    assert autumn.end - autumn.start == timedelta(hours=25)


def test_london_hourly_gap_lands_on_the_next_run_and_is_one_run():
    s = make("hourly", "00:30", "Europe/London", every=1)
    runs = run_times(s, utc(2026, 3, 29, 0, 0), 3)
    # 00:30 GMT, then 01:30 (missing) → 02:30 BST, which is also the 02:30 run: one run.
    assert runs == [utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 2, 30)]
    assert walls(s, runs) == ["03-29 00:30 GMT", "03-29 02:30 BST", "03-29 03:30 BST"]


def test_london_repeated_hour_runs_once_at_its_first_occurrence():
    s = make("hourly", "00:30", "Europe/London", every=1)
    runs = run_times(s, utc(2026, 10, 24, 22, 45), 4)
    # 00:30 BST, 01:30 BST (first occurrence; 01:30 GMT is not a run), 02:30 GMT.
    assert runs == [utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 0, 30),
                    utc(2026, 10, 25, 2, 30), utc(2026, 10, 25, 3, 30)]
    window = series.upcoming(s, utc(2026, 10, 25, 0, 30), 1)[0]
    assert window.end - window.start == timedelta(hours=2)


def test_new_york_daily_0230_on_both_dst_days():
    s = make("daily", "02:30", "America/New_York")
    spring = run_times(s, local("America/New_York", 2026, 3, 7, 12), 3)
    assert walls(s, spring) == ["03-08 03:30 EDT", "03-09 02:30 EDT", "03-10 02:30 EDT"]
    autumn = run_times(s, local("America/New_York", 2026, 10, 31, 12), 2)
    assert walls(s, autumn) == ["11-01 02:30 EST", "11-02 02:30 EST"]
    s = make("daily", "01:30", "America/New_York")
    autumn = run_times(s, local("America/New_York", 2026, 10, 31, 12), 1)
    assert walls(s, autumn) == ["11-01 01:30 EDT"]  # the first of the two 01:30s


def test_lord_howe_half_hour_dst():
    # Lord Howe: 02:00 → 02:30 (+10:30 → +11) on the first Sunday of October 2026,
    # 02:00 → 01:30 on the first Sunday of April 2026.
    s = make("daily", "02:15", "Australia/Lord_Howe")
    runs = run_times(s, local("Australia/Lord_Howe", 2026, 10, 3, 12), 2)
    assert [r.astimezone(s.tz).strftime("%m-%d %H:%M") for r in runs] == \
        ["10-04 02:45", "10-05 02:15"]
    windows = series.upcoming(s, local("Australia/Lord_Howe", 2026, 10, 3, 12), 2)
    assert [w.end - w.start for w in windows] == [timedelta(hours=24),
                                                  timedelta(hours=23, minutes=30)]
    s = make("daily", "01:45", "Australia/Lord_Howe")
    window = series.upcoming(s, local("Australia/Lord_Howe", 2026, 4, 4, 12), 2)
    # 01:45 occurs twice on 5 April (02:00 → 01:30): the first one, then 24.5 h to the 6th.
    assert [w.end - w.start for w in window] == [timedelta(hours=24),
                                                 timedelta(hours=24, minutes=30)]
    # Every hour across the half-hour gap: 01:15, 02:15 → 02:45, 03:15: all distinct.
    s = make("hourly", "00:15", "Australia/Lord_Howe", every=1)
    runs = run_times(s, local("Australia/Lord_Howe", 2026, 10, 4, 0, 30), 3)
    assert [r.astimezone(s.tz).strftime("%H:%M") for r in runs] == ["01:15", "02:45", "03:15"]


def test_kolkata_has_no_dst_and_a_half_hour_offset():
    s = make("daily", "09:00", "Asia/Kolkata")
    windows = series.upcoming(s, utc(2026, 1, 1), 400)
    assert {w.end - w.start for w in windows} == {timedelta(hours=24)}
    assert {w.run_at.strftime("%H:%M") for w in windows} == {"03:30"}


def test_chatham_quarter_hour_offset_and_dst():
    # Chatham: +12:45 / +13:45; clocks go 02:45 → 03:45 on the last Sunday of September.
    s = make("daily", "03:00", "Pacific/Chatham")
    runs = run_times(s, local("Pacific/Chatham", 2026, 9, 26, 12), 2)
    assert [r.astimezone(s.tz).strftime("%m-%d %H:%M %z") for r in runs] == \
        ["09-27 04:00 +1345", "09-28 03:00 +1345"]
    s = make("hourly", "00:45", "Pacific/Chatham", every=1)
    runs = run_times(s, local("Pacific/Chatham", 2026, 9, 27, 1, 0), 3)
    assert [r.astimezone(s.tz).strftime("%H:%M") for r in runs] == ["01:45", "03:45", "04:45"]


def test_weekly_windows_are_167_and_169_hours_across_dst():
    s = make("weekly", "09:00", "Europe/London", weekday="mon")
    spring = series.upcoming(s, local("Europe/London", 2026, 3, 25), 1)[0]
    autumn = series.upcoming(s, local("Europe/London", 2026, 10, 21), 1)[0]
    assert spring.end.astimezone(s.tz).weekday() == 0
    assert spring.end - spring.start == timedelta(hours=167)
    assert autumn.end - autumn.start == timedelta(hours=169)


def test_samoa_skipped_a_whole_day():
    # Pacific/Apia skipped 30 December 2011: every hour of it moves forward to the 31st.
    s = make("hourly", "00:00", "Pacific/Apia", every=1)
    runs = run_times(s, local("Pacific/Apia", 2011, 12, 29, 22), 4)
    assert walls(s, runs)[:3] == ["12-29 23:00 -10", "12-31 00:00 +14", "12-31 01:00 +14"]
    assert runs == sorted(set(runs))


# -- validation -----------------------------------------------------------------------------

@pytest.mark.parametrize("data, field, words", [
    ({"kind": "yearly", "time": "06:30"}, "kind", "daily, hourly, weekly, monthly"),
    ({"kind": "daily", "time": "6:30"}, "time", "hh:mm"),
    ({"kind": "daily", "time": "24:00"}, "time", "hh:mm"),
    ({"kind": "daily", "time": "06:30", "timezone": "Mars/Olympus"}, "timezone", "IANA"),
    ({"kind": "daily", "time": "06:30", "timezone": "localtime"}, "timezone", "IANA"),
    ({"kind": "hourly", "time": "06:30", "every": 5}, "every", "1, 2, 3, 4, 6, 12"),
    ({"kind": "hourly", "time": "06:30", "every": True}, "every", "1, 2, 3, 4, 6, 12"),
    ({"kind": "hourly", "time": "06:30"}, "every", "1, 2, 3, 4, 6, 12"),
    ({"kind": "weekly", "time": "06:30", "weekday": "funday"}, "weekday", "mon, tue"),
    ({"kind": "monthly", "time": "06:30", "every": 13, "day": 1}, "every", "1 to 12"),
    ({"kind": "monthly", "time": "06:30", "every": 0, "day": 1}, "every", "1 to 12"),
    ({"kind": "monthly", "time": "06:30", "every": 1, "day": 29}, "day", "1 to 28"),
    ({"kind": "monthly", "time": "06:30", "every": 1, "day": "x"}, "day", "1 to 28"),
])
def test_invalid_values_are_rejected_naming_the_field(data, field, words):
    with pytest.raises(sched.ScheduleError) as caught:
        sched.parse(data, "Europe/London")
    assert field in caught.value.fields
    assert words in caught.value.fields[field]


def test_allowed_values_parse():
    for every in sched.HOURLY_EVERY:
        assert make("hourly", every=every).every == every
    for every in sched.MONTHLY_EVERY:
        assert make("monthly", every=str(every), day=28).every == every
    assert make("weekly", weekday="SUN").weekday == 6
    assert make("daily").timezone == "Europe/London"
    assert sched.parse({"kind": "daily", "time": "23:59"}, "Asia/Kolkata").timezone == \
        "Asia/Kolkata"


# -- properties -----------------------------------------------------------------------------

ZONES = ["Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata",
         "Pacific/Chatham", "Pacific/Apia", "America/Sao_Paulo", "Africa/Casablanca",
         "Asia/Tehran", "Antarctica/Troll", "America/St_Johns", "UTC", "Europe/Moscow",
         "America/Havana", "Asia/Gaza"]


@st.composite
def schedules(draw):
    kind = draw(st.sampled_from(sched.KINDS))
    hour, minute = draw(st.integers(0, 23)), draw(st.sampled_from([0, 15, 30, 45, 59]))
    data = {"kind": kind, "timezone": draw(st.sampled_from(ZONES)),
            "time": f"{hour:02d}:{minute:02d}"}
    if kind == "hourly":
        data["every"] = draw(st.sampled_from(sched.HOURLY_EVERY))
    elif kind == "weekly":
        data["weekday"] = draw(st.sampled_from(sched.WEEKDAYS))
    elif kind == "monthly":
        data["every"] = draw(st.integers(1, 12))
        data["day"] = draw(st.integers(1, 28))
    return sched.parse(data, "UTC")


moments = st.datetimes(min_value=datetime(1995, 1, 1), max_value=datetime(2037, 12, 31),
                       timezones=st.just(UTC))


def brute_force(schedule, around: datetime, days: int, series_start=None) -> list[datetime]:
    """docs/product.md §3 read literally: every allowed wall-clock time of every local day, fold=0,
    repeated instants removed, in time order."""
    tz = schedule.tz
    centre = around.astimezone(tz).date()
    found = set()
    if schedule.kind == "monthly":
        y0, m0 = sched.monthly_anchor(schedule, series_start)
        for k in range(-(days // 28) - 2, days // 28 + 2):
            index = y0 * 12 + m0 - 1 + k * schedule.every
            moment = datetime.combine(date(index // 12, index % 12 + 1, schedule.day),
                                      schedule.time, tzinfo=tz)
            found.add(moment.astimezone(UTC))
        return sorted(found)
    if schedule.kind == "hourly":
        base = schedule.time.hour
        times = [time((base + k * schedule.every) % 24, schedule.time.minute)
                 for k in range(24 // schedule.every)]
    else:
        times = [schedule.time]
    for offset in range(-days, days + 1):
        day = centre + timedelta(days=offset)
        if schedule.kind == "weekly" and day.weekday() != schedule.weekday:
            continue
        for at in times:
            found.add(datetime.combine(day, at, tzinfo=tz).astimezone(UTC))
    return sorted(found)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedule=schedules(), after=moments, start_shift=st.integers(0, 400))
def test_next_and_previous_match_the_literal_rule(schedule, after, start_shift):
    series_start = after - timedelta(days=start_shift)
    truth = brute_force(schedule, after, 60 if schedule.kind != "monthly" else 800,
                        series_start)
    following = sched.next_after(schedule, after, series_start)
    assert following == min(t for t in truth if t > after)
    preceding = sched.previous_before(schedule, after, series_start)
    assert preceding == max(t for t in truth if t < after)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedule=schedules(), after=moments)
def test_windows_are_contiguous_and_instants_strictly_increase(schedule, after):
    windows = series.upcoming(schedule, after, 40, series_start=after)
    assert windows[0].run_at > after
    assert windows[0].start == sched.previous_before(schedule, windows[0].run_at, after)
    for earlier, later in zip(windows, windows[1:], strict=False):
        assert later.run_at > earlier.run_at
        assert later.start == earlier.end == earlier.run_at
    for window in windows:
        assert window.start < window.end == window.run_at
        assert _wall_clock_allowed(schedule, window.run_at)


def _wall_clock_allowed(schedule, instant: datetime) -> bool:
    """The instant's local time is one the schedule allows, or the DST shift of one (a
    missing wall-clock time read with fold=0)."""
    tz = schedule.tz
    wall = instant.astimezone(tz)
    day = wall.date()
    for candidate_day in (day - timedelta(days=1), day):
        if schedule.kind == "weekly" and candidate_day.weekday() != schedule.weekday:
            continue
        if schedule.kind == "monthly" and candidate_day.day != schedule.day:
            continue
        for hour in range(24):
            at = time(hour, schedule.time.minute)
            if schedule.kind == "hourly":
                if (hour - schedule.time.hour) % schedule.every:
                    continue
            elif hour != schedule.time.hour:
                continue
            if datetime.combine(candidate_day, at, tzinfo=tz).astimezone(UTC) == instant:
                return True
    return False


@settings(max_examples=60, deadline=None)
@given(schedule=schedules(), after=moments)
def test_instants_lists_the_sequence_between_two_moments(schedule, after):
    until = after + timedelta(days=200 if schedule.kind == "monthly" else 20)
    listed = list(series.instants(schedule, after, until, after))
    truth = [t for t in brute_force(schedule, after, 30 if schedule.kind != "monthly" else 400,
                                    after) if after < t <= until]
    assert listed == truth
