"""The side-by-side bench's verdicts on the targets of issue 20 (``bench/side_by_side.py``).

The figures are made up; what is checked is that each target compares omlsvc with the servers the
issue names (MLServer alone for 3x, the better of BentoML and KServe for 2x, all three for p99, the
HTTP floor for 70 %) and that a server that was not measured never lets a target pass.
"""

from __future__ import annotations

from bench.side_by_side_report import targets


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
