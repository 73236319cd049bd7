"""The side-by-side bench's verdicts on the targets of issue 20 (``bench/side_by_side.py``).

The figures are made up; what is checked is that each target compares omlsvc with the servers the
issue names (MLServer alone for 3x, the better of BentoML and KServe for 2x, all three for p99, the
HTTP floor for 70 %) and that a server that was not measured never lets a target pass; that the
conditions printed beside them name what makes two runs comparable or not; and that the budgets the
report derives from CPU per request (omlsvc's own work for the floor target, the most batching can
gain on the machine) follow from the figures.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.side_by_side_report import ModelAlone, conditions, cpu_model, floor_budget, targets


def figures(**servers: tuple[float, float]) -> dict[str, dict[str, float]]:
    """Server -> (requests/s, p99 ms), in the shape ``median_of`` gives."""
    return {
        name: {"req_per_s": rate, "p50_ms": p99 / 2, "p99_ms": p99, "errors": 0.0}
        for name, (rate, p99) in servers.items()
    }


def verdicts(rows: list[list[str]]) -> list[str]:
    return [row[2] for row in rows]


def test_every_target_met():
    rows = targets(
        figures(
            omlsvc=(3000, 40), floor=(4000, 35), mlserver=(900, 160), kserve=(1400, 90), bentoml=(300, 400)
        )
    )
    assert verdicts(rows) == ["met", "met", "met", "met"]
    assert rows[0][1].startswith("3.33x of mlserver")
    assert rows[1][1].startswith("2.14x of kserve")
    assert rows[3][1].startswith("75% of floor")


def test_the_3x_target_is_against_mlserver_even_when_another_peer_is_faster():
    rows = targets(
        figures(
            omlsvc=(3000, 40), floor=(4000, 35), mlserver=(1100, 160), kserve=(200, 90), bentoml=(100, 400)
        )
    )
    assert verdicts(rows) == ["MISSED", "met", "met", "met"]


def test_a_p99_worse_than_any_peer_misses_and_the_floor_needs_70_percent():
    rows = targets(
        figures(
            omlsvc=(2700, 95), floor=(4000, 35), mlserver=(500, 160), kserve=(400, 90), bentoml=(300, 400)
        )
    )
    assert verdicts(rows) == ["met", "met", "MISSED", "MISSED"]


def test_a_peer_not_measured_leaves_its_target_unknown():
    rows = targets(figures(omlsvc=(3000, 40), kserve=(400, 90)))
    assert verdicts(rows) == ["UNKNOWN", "UNKNOWN", "UNKNOWN", "UNKNOWN"]
    assert "bentoml not measured" in rows[1][1]
    assert "mlserver, bentoml not measured" in rows[2][1]


def test_a_target_already_missed_against_the_peers_measured_is_missed():
    rows = targets(figures(omlsvc=(3000, 400), kserve=(2000, 90)))
    assert verdicts(rows)[1:3] == ["MISSED", "MISSED"]


def test_the_conditions_name_the_machine_and_the_http_parser_of_omlsvc_and_the_floor():
    args = argparse.Namespace(rounds=3, workers=2, threads=4)
    line = conditions(args, "wrk -t1 -c16 -d10s", ["omlsvc", "floor"], [0.5, 0.4, 0.3], [2.0, 1.0, 0.5])
    assert "omlsvc gunicorn gthread 2 x 4 threads; floor gunicorn gthread 2 x 4 threads" in line
    assert "omlsvc and floor: gunicorn " in line and "HTTP parser" in line
    assert f"({cpu_model()})" in line
    assert line.endswith("load average 0.50 0.40 0.30 before, 2.00 1.00 0.50 after")


def test_the_cpu_model_is_the_kernels_model_name_or_says_it_is_unknown(tmp_path: Path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n")
    assert cpu_model(cpuinfo) == "AMD EPYC 7B13"
    cpuinfo.write_text("processor\t: 0\nCPU implementer\t: 0x41\n")  # some arm64 kernels name none
    assert cpu_model(cpuinfo) == "unknown CPU"
    assert cpu_model(tmp_path / "absent") == "unknown CPU"


def test_the_floor_budget_is_the_floors_cpu_per_request_over_70_percent_less_the_floors_own():
    cpu = {"omlsvc": {"cpu_ms_per_req": 0.9}, "floor": {"cpu_ms_per_req": 0.42}}
    line = floor_budget(cpu)
    assert line is not None
    assert "omlsvc 900 us, floor 420 us, so omlsvc's own work is 480 us a request" in line
    # 420 / 0.70 = 600 us in all, 180 us of it omlsvc's own: 38 % of the 480 it takes
    assert line.endswith("needs at most 600 us, its own work at most 180 us (38% of what it is)")


def test_no_floor_budget_without_both_cpu_figures():
    assert floor_budget({"omlsvc": {"cpu_ms_per_req": 0.9}}) is None
    assert floor_budget({"omlsvc": {"cpu_ms_per_req": 0.9}, "floor": {"req_per_s": 3000.0}}) is None


def test_batching_can_gain_only_what_the_model_saves_per_image_when_the_server_is_cpu_bound():
    # 9 ms a request, 5 of them the model at batch 1: a batch that halves the model's cost per image
    # leaves 4 + 2.5 ms, 1.38x; one that makes it dearer per image gains nothing
    assert ModelAlone(1, 5.0, 32, 2.5).ceiling(9.0) == 9.0 / 6.5
    assert ModelAlone(1, 5.0, 32, 5.5).ceiling(9.0) < 1.0
    assert ModelAlone(1, 5.0, 32, 5.0).ceiling(9.0) == 1.0
