"""The command line: sweep writes a CSV whose certified ordering holds at every d."""

import csv

import numpy as np
import pytest

import bottleneck as bn
from bottleneck.app import cli, report


def test_sweep_csv_certified_ordering(tmp_path, capsys):
    t, _ = bn.targets.synthetic(40, 30, "power", decay=0.8, scale=4.0, seed=2)
    path = tmp_path / "target.npy"
    np.save(path, np.array(t.probs))
    assert (
        cli.main(
            [
                "sweep",
                str(path),
                "--ds",
                "1,2,4,8",
                "--out",
                str(tmp_path / "out"),
                "--max-seconds",
                "5",
                "--trained",
            ]
        )
        == 0
    )
    with open(tmp_path / "out" / "sweep.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["d"]) for r in rows] == [1, 2, 4, 8]
    for r in rows:
        lower, solver, upper, trunc = (float(r[k]) for k in ("lower", "solver", "upper", "U_trunc"))
        assert lower <= solver + 1e-12 and solver <= trunc + 1e-12 and upper <= solver + 1e-15
        assert upper == min(solver, float(r["trained"]), trunc)
        for k in ("U_quad", "U_osc"):
            assert float(r[k]) >= solver
        assert float(r["trained"]) >= lower  # Corollary H: a trained head is a rank-d head
    report.check_rows(report.read_csv(tmp_path / "out" / "sweep.csv"))
    assert (tmp_path / "out" / "sweep.png").stat().st_size > 0
    assert "wrote" in capsys.readouterr().out


def test_bounds_and_spectrum_commands(tmp_path, capsys):
    t, sigma = bn.targets.synthetic(20, 15, "exponential", decay=0.5, scale=3.0, seed=1)
    np.save(tmp_path / "p.npy", np.array(t.probs))
    np.save(tmp_path / "s.npy", sigma)
    cli.main(["bounds", str(tmp_path / "p.npy"), "--d", "3"])
    assert "Sandwich for rank d = 3" in capsys.readouterr().out
    cli.main(["bounds", "--spectrum", str(tmp_path / "s.npy"), "--d", "3"])
    assert "U_quad" in capsys.readouterr().out
    cli.main(["spectrum", str(tmp_path / "p.npy"), "--k", "3"])
    assert "tail energy" in capsys.readouterr().out


def test_cli_bad_input(tmp_path):
    np.save(tmp_path / "bad.npy", np.ones((3, 4)))
    with pytest.raises(SystemExit, match="sums to"):
        cli.main(["bounds", str(tmp_path / "bad.npy"), "--d", "1"])
    with pytest.raises(SystemExit, match="no such file"):
        cli.main(["solve", str(tmp_path / "missing.npy"), "--d", "1"])
    with pytest.raises(SystemExit, match="no experiment"):
        cli.main(["experiment", "nonexistent"])


def test_experiment_command_finds_the_scripts_of_the_checkout(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["experiment", "bench_bounds", "--help"])
    assert exit_.value.code == 0 and "usage" in capsys.readouterr().out
