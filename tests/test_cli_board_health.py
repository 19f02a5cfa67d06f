"""The host side of storage/memory health: `bodycam sim --sd/--heap` flags
and the rows `bodycam info` prints from the dock's health field."""
import pytest

from bodycam.cli import build_parser
from bodycam.commands.info import health_rows


def test_sim_takes_sd_kind_and_heap_with_units():
    a = build_parser().parse_args(["sim", "--sd", "exfat", "--heap", "1.5M"])
    assert a.sd == "exfat" and a.heap == 1572864
    assert build_parser().parse_args(["sim", "--heap", "800K"]).heap == 819200
    assert build_parser().parse_args(["sim"]).sd == "fat32"


@pytest.mark.parametrize("argv", [["sim", "--sd", "ntfs"], ["sim", "--heap", "lots"]])
def test_sim_refuses_bad_sd_or_heap(argv, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(argv)
    err = capsys.readouterr().err
    assert "fat32" in err or "1.5M" in err


def test_info_rows_name_the_problem_and_what_to_do():
    h = {"storage": {"ok": False, "reason": "exfat", "error": "OSError(19 ENODEV)",
                     "advice": "format it FAT32"},
         "unrecorded": {"presses": 2, "errors": 2, "recent": []},
         "unrecovered": ["BC000007"],
         "memory": {"ring_bytes": 900000, "frame_bytes": 10000, "preroll_s_wanted": 30,
                    "preroll_s_achievable": 16, "shortfall": True}}
    rows = dict()
    for k, v in health_rows(h):
        rows.setdefault(k, []).append(v)
    assert any("exfat" in v and "format it FAT32" in v for v in rows["PROBLEM"])
    assert any("2 button press(es) not recorded" in v for v in rows["PROBLEM"])
    assert any("BC000007" in v and "bodycam pull --delete" in v and "reset" in v for v in rows["PROBLEM"])
    assert "16 s of 30 s wanted" in rows["pre-roll"][0] and "SHORTFALL" in rows["pre-roll"][0]
    assert health_rows(None) == []
