import pytest

from hil.linux.bdf import validate_bdf
from hil.linux.cpulist import format_cpulist, parse_cpulist


@pytest.mark.parametrize("bdf", ["0000:00:0a.0", "ffff:ff:1f.7", "0001:3b:00.1"])
def test_kernel_spelled_bdfs_are_accepted(bdf):
    assert validate_bdf(bdf) == bdf


@pytest.mark.parametrize(
    "bdf",
    [
        "00:0a.0",  # no domain
        "0000:00:0A.0",  # upper case: sysfs never spells it so
        "0000:00:0a.8",  # function > 7
        "0000:00:0a.0\n",  # trailing newline must not slip past `$`
        "../../../../etc",
        "0000:00:0a.0/../x",
        "",
    ],
)
def test_anything_else_is_refused_with_the_expected_form(bdf):
    with pytest.raises(ValueError, match=r"domain:bus:device\.function"):
        validate_bdf(bdf)


def test_non_string_is_refused():
    with pytest.raises(ValueError):
        validate_bdf(0x0A)


@pytest.mark.parametrize(
    ("text", "cpus"),
    [
        ("0-2,5\n", (0, 1, 2, 5)),
        ("3", (3,)),
        ("", ()),
        ("\n", ()),
        ("5,0-1,1", (0, 1, 5)),
    ],
)
def test_parse_cpulist(text, cpus):
    assert parse_cpulist(text) == cpus


@pytest.mark.parametrize("text", ["a", "3-1", "1-", "-1"])
def test_parse_cpulist_refuses_garbage(text):
    with pytest.raises(ValueError, match="bad cpulist"):
        parse_cpulist(text)


@pytest.mark.parametrize(
    ("cpus", "text"),
    [((0, 1, 2, 5), "0-2,5"), ((3,), "3"), ((), ""), ([7, 1, 0, 2, 6], "0-2,6-7")],
)
def test_format_cpulist(cpus, text):
    assert format_cpulist(cpus) == text


def test_cpulist_round_trip():
    cpus = (0, 2, 3, 4, 9, 10, 63)
    assert parse_cpulist(format_cpulist(cpus)) == cpus


@pytest.mark.parametrize(
    ("text", "cpus"),
    [("0-3,8", (0, 1, 2, 3, 8)), ("3,1-2,2", (1, 2, 3)), ("5,5", (5,)), ("2-4,4-5", (2, 3, 4, 5))],
)
def test_kernel_order_and_any_other_order_read_the_same(text: str, cpus: tuple[int, ...]) -> None:
    assert parse_cpulist(text) == cpus
