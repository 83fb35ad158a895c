"""A task's series, pure (jobs/series.py, jobs/schedule.py): monthly day "last" against an
independent oracle, end dates, and catch-up after downtime across DST changes."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs import schedule as sched
from jobs import series
from jobs.schedule_words import describe


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(zone: str, *args) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def last_day(every: int = 1, at: str = "06:30", zone: str = "Europe/London"):
    return sched.parse({"kind": "monthly", "every": every, "day": "last", "time": at,
                        "timezone": zone}, "UTC")


# -- monthly day "last" ----------------------------------------------------------------------

def test_last_day_runs_on_28_to_31_as_the_month_has():
    runs = series.upcoming(last_day(), local("Europe/London", 2027, 12, 15), 14)
    days = [r.run_at.astimezone(ZoneInfo("Europe/London")).date() for r in runs]
    assert days[:4] == [date(2027, 12, 31), date(2028, 1, 31), date(2028, 2, 29),
                        date(2028, 3, 31)]
    assert all(d.day == calendar.monthrange(d.year, d.month)[1] for d in days)


def test_last_day_windows_are_contiguous_and_the_first_is_one_period_back():
    runs = series.upcoming(last_day(every=3), local("Europe/London", 2026, 1, 10), 5)
    assert runs[0].start == local("Europe/London", 2025, 10, 31, 6, 30)  # 3 months back
    for before, after in zip(runs, runs[1:], strict=False):
        assert after.start == before.end
    assert [r.run_at.astimezone(ZoneInfo("Europe/London")).date() for r in runs] == [
        date(2026, 1, 31), date(2026, 4, 30), date(2026, 7, 31), date(2026, 10, 31),
        date(2027, 1, 31)]


def test_last_day_inside_a_dst_gap_moves_forward_by_the_gap():
    s = sched.parse({"kind": "monthly", "every": 1, "day": "last", "time": "01:30",
                     "timezone": "Europe/London"}, "UTC")
    # 31 Oct 2027 is a Sunday: London's clocks go back at 02:00 BST; 01:30 happens twice and
    # runs once, at its first occurrence (BST, 00:30 UTC).
    run = series.upcoming(s, local("Europe/London", 2027, 10, 15), 1)[0]
    assert run.run_at == utc(2027, 10, 31, 0, 30)
    # 31 Mar 2024 was a Sunday: 01:30 did not exist; it moves forward by the gap (02:30 BST).
    run = series.upcoming(s, local("Europe/London", 2024, 3, 15), 1)[0]
    assert run.run_at == utc(2024, 3, 31, 1, 30)
    assert run.run_at.astimezone(ZoneInfo("Europe/London")).hour == 2


def test_last_is_accepted_in_any_case_and_shown_as_last():
    s = sched.parse({"kind": "monthly", "every": 2, "day": " Last ", "time": "23:00"}, "UTC")
    assert s.day == sched.LAST_DAY and s.as_dict()["day"] == "last"
    assert "last day" in describe(s)
    assert sched.of(type("Row", (), sched.columns(s))()) == s


@pytest.mark.parametrize("day", ["first", "29", 0, -1, "last day", True, None])
def test_other_days_are_refused_naming_the_field(day):
    with pytest.raises(sched.ScheduleError) as caught:
        sched.parse({"kind": "monthly", "every": 1, "day": day, "time": "06:30"}, "UTC")
    assert '"last"' in caught.value.fields["day"]


ZONES = ["Europe/London", "America/New_York", "Australia/Lord_Howe", "Pacific/Chatham",
         "Pacific/Apia", "America/Santiago", "Asia/Gaza", "Africa/Casablanca", "UTC",
         "America/St_Johns", "Asia/Tehran"]


def oracle(schedule, series_start: datetime, months: int) -> list[datetime]:
    """docs/product.md §3/§9 read literally for day "last": the first month whose last day
    at hh:mm (fold=0) is after the series started, then every X months; calendar's idea of
    a month's length, not the module's."""
    tz = schedule.tz
    year, month = series_start.astimezone(tz).year, series_start.astimezone(tz).month

    def at(y, m):
        end = calendar.monthrange(y, m)[1]
        return datetime.combine(date(y, m, end), schedule.time, tzinfo=tz).astimezone(UTC)

    while at(year, month) <= series_start:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    found = []
    for k in range(months):
        index = year * 12 + month - 1 + k * schedule.every
        found.append(at(index // 12, index % 12 + 1))
    return found


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(zone=st.sampled_from(ZONES), every=st.integers(1, 12), hour=st.integers(0, 23),
       minute=st.sampled_from([0, 15, 30, 45, 59]),
       start=st.datetimes(min_value=datetime(1995, 1, 1), max_value=datetime(2037, 1, 1),
                          timezones=st.just(UTC)),
       probe=st.integers(0, 3000))
def test_last_day_matches_the_oracle(zone, every, hour, minute, start, probe):
    s = last_day(every, f"{hour:02d}:{minute:02d}", zone)
    truth = oracle(s, start, 120)
    assert sched.first_run(s, start) == truth[0]
    listed = [w.run_at for w in series.upcoming(s, start, 12, series_start=start)]
    assert listed == truth[:12]
    after = start + timedelta(days=probe)
    assert sched.next_after(s, after, start) == min(t for t in truth if t > after)
    if after > truth[0]:
        assert sched.previous_before(s, after, start) == max(t for t in truth if t < after)


# -- end dates -------------------------------------------------------------------------------

def test_the_end_is_the_next_local_midnight():
    assert series.end_instant(date(2026, 12, 31), "Europe/London") == utc(2027, 1, 1)
    assert series.end_instant(date(2026, 7, 31), "Europe/London") == utc(2026, 7, 31, 23)
    # Havana's clocks sprang forward at midnight (2026-03-08 00:00 → 01:00): fold=0 reads
    # the missing midnight forward.
    assert series.end_instant(date(2026, 3, 7), "America/Havana") == utc(2026, 3, 8, 5)
    assert series.end_instant(None, "UTC") is None


def test_preview_stops_at_the_end_and_a_run_at_midnight_is_the_last():
    s = sched.parse({"kind": "daily", "time": "00:00"}, "Europe/London")
    end = series.end_instant(date(2026, 12, 31), "Europe/London")
    runs = series.upcoming(s, local("Europe/London", 2026, 12, 29, 12), 5, ends_at=end)
    assert [r.run_at for r in runs] == [utc(2026, 12, 30), utc(2026, 12, 31), utc(2027, 1, 1)]
    assert runs[-1].start == utc(2026, 12, 31)  # the last run covers the whole last day


def due(schedule, start, first, policy="combine", cap=24, ends_at=None, series_start=None):
    return series.Due(schedule, series_start or start, start, first, policy, cap, ends_at)


def test_downtime_past_the_end_makes_no_run_after_it():
    s = sched.parse({"kind": "daily", "time": "06:30"}, "Europe/London")
    end = series.end_instant(date(2026, 3, 30), "Europe/London")
    start = local("Europe/London", 2026, 3, 27, 6, 30)
    for policy in series.CATCH_UP_POLICIES:
        plan = series.plan(due(s, start, start + timedelta(days=1), policy, ends_at=end),
                           local("Europe/London", 2026, 4, 10))
        assert plan.windows[-1].end == local("Europe/London", 2026, 3, 30, 6, 30)
        assert plan.following > end  # the series is over


# -- catch-up across a DST change ------------------------------------------------------------

def test_combine_after_downtime_across_spring_forward_is_one_run_from_the_watermark():
    s = sched.parse({"kind": "daily", "time": "01:30"}, "Europe/London")
    watermark = local("Europe/London", 2026, 3, 27, 1, 30)
    now = local("Europe/London", 2026, 3, 31, 9)  # down from 27 Mar to 31 Mar
    plan = series.plan(due(s, watermark, sched.next_after(s, watermark, watermark)), now)
    assert len(plan.windows) == 1 and plan.missed == 4 and plan.catching_up
    only = plan.windows[0]
    assert (only.start, only.end) == (watermark, utc(2026, 3, 31, 0, 30))
    assert plan.following == utc(2026, 4, 1, 0, 30)


def test_each_after_downtime_across_both_dst_changes_has_one_window_per_instant():
    for zone, first, now, hours in [
        ("Europe/London", (2026, 3, 27, 1, 30), (2026, 3, 31, 9), [24, 24, 23, 24]),
        ("Europe/London", (2026, 10, 23, 1, 30), (2026, 10, 27, 9), [24, 24, 25, 24]),
        ("America/New_York", (2026, 3, 6, 2, 30), (2026, 3, 10, 9), [24, 24, 23, 24]),
    ]:
        s = sched.parse({"kind": "daily", "time": f"{first[3]:02d}:{first[4]:02d}",
                         "timezone": zone}, "UTC")
        watermark = local(zone, *first)
        plan = series.plan(due(s, watermark, sched.next_after(s, watermark, watermark),
                               "each"), local(zone, *now))
        lengths = [(w.end - w.start) / timedelta(hours=1) for w in plan.windows]
        assert lengths == hours, zone
        assert plan.windows[0].start == watermark
        for before, after in zip(plan.windows, plan.windows[1:], strict=False):
            assert after.start == before.end and before.run_at == before.end


def test_each_beyond_the_cap_combines_the_oldest_into_the_first():
    s = sched.parse({"kind": "hourly", "every": 1, "time": "00:30"}, "Europe/London")
    watermark = local("Europe/London", 2026, 3, 28, 20, 30)
    now = local("Europe/London", 2026, 3, 29, 20, 45)  # 23 instants (01:30 does not exist)
    plan = series.plan(due(s, watermark, sched.next_after(s, watermark, watermark), "each",
                           cap=5), now)
    assert plan.missed == 23 and len(plan.windows) == 5
    assert plan.windows[0].start == watermark
    assert plan.windows[0].end == local("Europe/London", 2026, 3, 29, 16, 30)
    assert [w.end.astimezone(ZoneInfo("Europe/London")).hour for w in plan.windows[1:]] == \
        [17, 18, 19, 20]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["daily", "hourly", "weekly"]), zone=st.sampled_from(ZONES),
       start=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2035, 1, 1),
                          timezones=st.just(UTC)),
       down=st.integers(0, 24 * 40), cap=st.integers(1, 30),
       policy=st.sampled_from(series.CATCH_UP_POLICIES))
def test_catch_up_covers_every_missed_instant_exactly_once(kind, zone, start, down, cap,
                                                           policy):
    s = sched.parse({"kind": kind, "time": "01:30", "every": 3, "weekday": "sun",
                     "timezone": zone}, "UTC")
    watermark = sched.next_after(s, start, start)
    first = sched.next_after(s, watermark, start)
    now = first + timedelta(hours=down)
    plan = series.plan(due(s, watermark, first, policy, cap, series_start=start), now)
    missed = list(series.instants(s, watermark, now, start))
    assert plan.missed == len(missed)
    assert plan.windows[0].start == watermark and plan.windows[-1].end == missed[-1]
    for before, after in zip(plan.windows, plan.windows[1:], strict=False):
        assert after.start == before.end
    assert len(plan.windows) == (1 if policy == "combine" else min(cap, len(missed)))
    assert plan.following == sched.next_after(s, missed[-1], start) and plan.following > now
