"""The proto3 JSON readers the facades share: int64, Duration, and unknown fields."""

from decimal import Decimal

import pytest

from mlplatform.core.errors import ApplicationError
from mlplatform.gcp import proto


@pytest.mark.parametrize(
    ("value", "number"), [("2", 2), (2, 2), (2.0, 2), ("-3", -3), ("9007199254740993", 2**53 + 1)]
)
def test_int64_is_read_from_a_string_or_a_whole_number(value, number):
    assert proto.int64(value, field="count") == number


@pytest.mark.parametrize("value", ["two", "2.0", " 2", 2.5, True, None, [2]])
def test_anything_else_is_not_an_int64(value):
    with pytest.raises(ApplicationError) as caught:
        proto.int64(value, field="a.count")
    assert caught.value.field == "a.count"


def test_int64_minimums_say_what_they_need():
    with pytest.raises(ApplicationError, match="must be at least 1"):
        proto.int64("0", field="coreCount", minimum=1)


@pytest.mark.parametrize(
    ("value", "seconds"), [("3600s", Decimal(3600)), ("1.5s", Decimal("1.5")), ("-2s", -2)]
)
def test_durations_are_seconds_with_an_s(value, seconds):
    assert proto.duration(value, field="d") == seconds


@pytest.mark.parametrize("value", ["1h", "3600", 3600, "s", None])
def test_other_durations_are_refused(value):
    with pytest.raises(ApplicationError) as caught:
        proto.duration(value, field="scheduling.maxRunningTime")
    assert caught.value.field == "scheduling.maxRunningTime"


def test_unknown_and_refused_fields_are_named_with_their_path():
    with pytest.raises(ApplicationError) as caught:
        proto.check_fields({"a": 1, "zz": 2}, {"a"}, type_name="Thing", path="body.thing")
    assert (caught.value.field, caught.value.message) == ("body.thing.zz", "'zz' is not a field of Thing.")

    refused = {"network": "No VPC here"}
    proto.check_fields({"network": ""}, set(), type_name="Thing", refused=refused)  # unset: fine
    with pytest.raises(ApplicationError, match="No VPC here"):
        proto.check_fields({"network": "vpc"}, set(), type_name="Thing", refused=refused)


@pytest.mark.parametrize("value", ["9223372036854775808", 2**63, "-9223372036854775809"])
def test_numbers_outside_int64_are_refused(value):
    with pytest.raises(ApplicationError, match="must be at"):
        proto.int64(value, field="count")


def test_a_maximum_bounds_an_int64():
    assert proto.int64("2147483647", field="coreCount", maximum=proto.COLUMN_MAX) == 2**31 - 1
    with pytest.raises(ApplicationError, match="at most 2147483647"):
        proto.int64("2147483648", field="coreCount", maximum=proto.COLUMN_MAX)


def test_durations_beyond_protobufs_range_are_refused():
    assert proto.duration("315576000000s", field="maxWaitTime") == 315_576_000_000
    with pytest.raises(ApplicationError, match="at most 315576000000s"):
        proto.duration("315576000001s", field="maxWaitTime")
