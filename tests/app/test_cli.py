"""The command line: every user mistake ends in one line on stderr and exit status 2 (no
traceback), before any work; sweep writes rank by rank, resumes, and never overwrites
another run's results silently."""

import csv
import datetime
import json
import re

import numpy as np
import pytest
import torch

import bottleneck as bn
from bottleneck._io import exclusive_lock
from bottleneck.app import cli, report


@pytest.fixture
def files(tmp_path):
    """A small target's probabilities in the formats users have, and broken files."""
    t, sigma = bn.targets.synthetic(20, 15, "exponential", decay=0.5, scale=3.0, seed=1)
    P = np.array(t.probs)
    np.save(tmp_path / "p.npy", P)
    np.save(tmp_path / "s.npy", sigma)
    np.save(tmp_path / "w.npy", np.full(20, 1 / 20))
    z32 = torch.tensor(np.log(P), dtype=torch.float32)
    np.save(tmp_path / "p32.npy", torch.softmax(z32, -1).numpy())
    np.save(tmp_path / "counts.npy", np.ones((3, 4)))
    np.savez(tmp_path / "two.npz", a=P, b=P)
    np.savez(tmp_path / "empty.npz")
    torch.save({"weights_of_a_model": torch.tensor(P), "x": torch.ones(2)}, tmp_path / "dict.pt")
    torch.save(torch.tensor(P), tmp_path / "p.pt")
    (tmp_path / "trunc.npy").write_bytes((tmp_path / "p.npy").read_bytes()[:200])
    (tmp_path / "garbage.pt").write_bytes(b"hello world")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "a_file").write_text("x")
    return tmp_path


def fails(argv, capsys, match):
    """Run the command; it must exit with status 2 and one line on stderr matching."""
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("bottleneck"), err
    assert "Traceback" not in err
    assert re.search(match, err), err
    return err


@pytest.mark.parametrize(
    "argv, match",
    [
        (["bounds", "missing.npy", "--d", "1"], "no such file: .*missing.npy"),
        (["bounds", "p.npy", "--d", "-1"], "--d: a rank is an integer >= 0; got -1"),
        (["bounds", "p.npy", "--d", "1.5"], "--d: a rank is an integer >= 0; got '1.5'"),
        (["bounds", "p.npy"], "required: --d"),
        (["bounds", "--d", "1"], "give a FILE"),
        (["sweep", "p.npy", "--ds", ""], "--ds wants ranks separated by commas"),
        (["sweep", "p.npy", "--ds", "1,,4"], "--ds wants ranks separated by commas"),
        (["sweep", "p.npy", "--ds", "1,x"], "a rank is an integer >= 0; got 'x'"),
        (["sweep", "p.npy", "--ds", "1,-4"], "a rank is an integer >= 0; got -4"),
        (["sweep", "p.npy", "--ds", "1", "--max-seconds", "-3"], "seconds > 0"),
        (["bounds", "trunc.npy", "--d", "1"], "trunc.npy: cannot read it as a .npy file"),
        (["bounds", "garbage.pt", "--d", "1"], "garbage.pt: cannot read it as a .pt file"),
        (["bounds", "obj.npy", "--d", "1"], "obj.npy: .*unpickled.*refused"),
        (["bounds", "dict.pt", "--d", "1"], r"dict.pt: holds 2 arrays \['weights_of_a_model'"),
        (["bounds", "two.npz", "--d", "1"], r"two.npz: holds 2 arrays \['a', 'b'\]"),
        (["bounds", "empty.npz", "--d", "1"], r"empty.npz: holds 0 arrays"),
        (["spectrum", "p.npy", "--k", "-3"], "--k: want an integer >= 1"),
        (["bounds", "s.npy", "--d", "1"], r"s.npy: expected an \(N, V\) matrix"),
        (["bounds", "a_file", "--d", "1"], "unsupported file type"),
        (["bounds", "counts.npy", "--d", "1"], "sums to 4.0.*pass --normalize"),
        (["bounds", "p.npy", "--d", "1", "--weights", "s.npy"], r"s.npy: weights must have shape"),
        (["bounds", "p.npy", "--d", "1", "--weights", "w.npy", "--bias"], None),
        (["bounds", "p.npy", "--spectrum", "s.npy", "--d", "1"], "either FILE or --spectrum"),
        (["solve", "p.npy", "--d", "99"], r"--d 99 exceeds min\(N, V\) = 15"),
        (["spectrum", "p.npy", "--k", "0"], "--k: want an integer >= 1"),
        (["sweep", "p.npy", "--ds", "1", "--out", "a_file"], "--out .*a_file.* is a file"),
        (["sweep", "p.npy", "--ds", "1", "--out", "a_file/sub"], "--out .*cannot be created"),
        (["experiment", "nonexistent"], "no experiment 'nonexistent'; available: bench_bounds"),
    ],
)
def test_user_mistakes_end_in_one_line_and_status_2(files, capsys, monkeypatch, argv, match):
    monkeypatch.chdir(files)
    if match is None:  # the valid twin of the line above it
        assert cli.main(argv) == 0
        return
    fails(argv, capsys, match)


def test_unwritable_output_folder_is_found_before_any_work(files, capsys, monkeypatch):
    """The folder is probed with a temporary file before the first rank is computed (the
    probe's failure is simulated: the tests may run as a user who can write anywhere)."""
    import bottleneck._io as io

    monkeypatch.chdir(files)
    calls = counting_rows(monkeypatch)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(io.tempfile, "mkstemp", refuse)
    fails(["sweep", "p.npy", "--ds", "1", "--out", "out"], capsys, "not writable: Permission")
    fails(["demo", "--quick", "--out", "out"], capsys, "not writable: Permission")
    assert calls == []


def test_float32_probabilities_are_read_with_a_tolerance_fitting_their_precision(files, capsys):
    """A float32 softmax sums to 1 only within ~sqrt(V) eps32 >> 1e-8: accepted, divided by
    the row sums in float64, with a note; a row further off still needs --normalize."""
    assert cli.main(["bounds", str(files / "p32.npy"), "--d", "2"]) == 0
    out = capsys.readouterr()
    assert "Sandwich for rank d = 2" in out.out and "float32 probabilities" in out.err
    P = np.load(files / "p32.npy")
    P[0] *= np.float32(1.001)
    np.save(files / "off32.npy", P)
    fails(["bounds", str(files / "off32.npy"), "--d", "2"], capsys, "row 0 sums to.*--normalize")
    assert cli.main(["bounds", str(files / "off32.npy"), "--d", "2", "--normalize"]) == 0


def test_pt_files_are_read_without_unpickling_code(files, capsys):
    """``weights_only=True``: a pickled object that is not tensors is refused unread."""
    torch.save({"P": torch.tensor(np.load(files / "p.npy"))}, files / "named.pt")
    assert cli.main(["bounds", str(files / "named.pt"), "--d", "1"]) == 0
    assert cli.main(["bounds", str(files / "p.pt"), "--d", "1"]) == 0
    torch.save(datetime.date(2024, 4, 10), files / "object.pt")
    fails(["bounds", str(files / "object.pt"), "--d", "1"], capsys, "object.pt: cannot read")


def test_weights_file_sets_the_context_weights(files, capsys):
    w = np.linspace(1.0, 2.0, 20)
    np.save(files / "counts_w.npy", w)
    P = np.load(files / "p.npy")
    expected = bn.bounds(bn.Target.from_probs(P, weights=w / w.sum()), 2)
    capsys.readouterr()
    argv = ["bounds", str(files / "p.npy"), "--d", "2", "--weights", str(files / "w.npy")]
    assert cli.main(argv) == 0
    fails(
        ["bounds", str(files / "p.npy"), "--d", "2", "--weights", str(files / "counts_w.npy")],
        capsys,
        "counts_w.npy: weights sum to 30.0",
    )
    argv = ["bounds", str(files / "p.npy"), "--d", "2", "--weights", str(files / "counts_w.npy")]
    assert cli.main(argv + ["--normalize"]) == 0
    assert f"{expected.upper:.6g}" in capsys.readouterr().out


def test_help_documents_every_option_and_the_npz_keys(capsys):
    p = cli.parser()
    sub = next(a for a in p._actions if a.choices and "sweep" in a.choices)
    for name, command in sub.choices.items():
        for action in command._actions:
            assert action.help, f"bottleneck {name} {action.option_strings or action.dest}"
        help_text = command.format_help()
        if name in ("bounds", "solve", "sweep", "spectrum"):
            assert "P, probs, logits, Z" in help_text and "singular_values" in help_text
            assert "weights_only=True" in help_text
    assert "sweep.json" in sub.choices["sweep"].format_help()


def test_experiment_without_a_name_lists_the_experiments(capsys):
    assert cli.main(["experiment"]) == 0
    out = capsys.readouterr().out
    assert "bench_solver" in out and "Benchmark" in out and "saturation" in out


def test_experiment_command_finds_the_scripts_of_the_checkout(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["experiment", "bench_bounds", "--help"])
    assert exit_.value.code == 0 and "usage" in capsys.readouterr().out


def test_bounds_and_spectrum_commands(files, capsys):
    cli.main(["bounds", str(files / "p.npy"), "--d", "3"])
    assert "Sandwich for rank d = 3" in capsys.readouterr().out
    cli.main(["bounds", "--spectrum", str(files / "s.npy"), "--d", "3"])
    assert "U_quad" in capsys.readouterr().out
    cli.main(["spectrum", str(files / "p.npy"), "--k", "3"])
    assert "tail energy" in capsys.readouterr().out


# ------------------------------------------------------------------ sweep
def sweep_argv(files, *extra):
    return ["sweep", str(files / "p.npy"), "--out", str(files / "out"), *extra]


@pytest.mark.slow
def test_sweep_csv_certified_ordering(files, capsys):
    argv = sweep_argv(files, "--ds", "1,2,4,8", "--max-seconds", "5", "--trained")
    assert cli.main(argv) == 0
    with open(files / "out" / "sweep.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["d"]) for r in rows] == [1, 2, 4, 8]
    for r in rows:
        lower, solver, upper, trunc = (float(r[k]) for k in ("lower", "solver", "upper", "U_trunc"))
        assert lower <= solver + 1e-12 and solver <= trunc + 1e-12 and upper <= solver + 1e-15
        assert upper == min(solver, float(r["trained"]), trunc)
        for k in ("U_quad", "U_osc"):
            assert float(r[k]) >= solver
        assert float(r["trained"]) >= lower  # Corollary H: a trained head is a rank-d head
    report.check_rows(report.read_csv(files / "out" / "sweep.csv"))
    assert (files / "out" / "sweep.png").stat().st_size > 0
    assert "wrote" in capsys.readouterr().out


REAL_ROWS = report.bound_vs_loss_rows


def counting_rows(monkeypatch, stop_at=None):
    """Replace the per-rank computation by a counting one that is interrupted (as by
    Ctrl-C or a kill) when it reaches rank ``stop_at``."""
    real = REAL_ROWS
    calls = []

    def rows(target, ds, **kwargs):
        if ds[0] == stop_at:
            raise KeyboardInterrupt
        calls.append(ds[0])
        return real(target, ds, **kwargs)

    monkeypatch.setattr(report, "bound_vs_loss_rows", rows)
    return calls


def test_sweep_writes_each_rank_as_it_goes_and_resumes(files, capsys, monkeypatch):
    calls = counting_rows(monkeypatch, stop_at=4)
    with pytest.raises(SystemExit) as exit_:
        cli.main(sweep_argv(files, "--ds", "1,2,4,8", "--max-seconds", "2"))
    assert exit_.value.code == 130 and calls == [1, 2]
    out = files / "out"
    state = json.loads((out / "sweep.json").read_text())
    assert [r["d"] for r in state["rows"]] == [1, 2]
    assert [r["d"] for r in report.read_csv(out / "sweep.csv")] == [1, 2]
    assert (out / "sweep.png").exists()
    calls = counting_rows(monkeypatch)
    assert cli.main(sweep_argv(files, "--ds", "1,2,4,8", "--max-seconds", "2")) == 0
    assert calls == [4, 8]  # the finished ranks are read back, not recomputed
    rows = report.read_csv(out / "sweep.csv")
    assert [r["d"] for r in rows] == [1, 2, 4, 8]
    for read, saved in zip(rows, state["rows"]):
        assert {k: read[k] for k in ("d", "lower", "upper", "solver")} == {
            k: saved[k] for k in ("d", "lower", "upper", "solver")
        }


def test_a_second_sweep_on_the_same_folder_stops_at_once(files, capsys, monkeypatch):
    calls = counting_rows(monkeypatch)
    with exclusive_lock(files / "out" / ".sweep.lock"):
        fails(sweep_argv(files, "--ds", "1"), capsys, "another sweep is writing to")
    assert calls == []


def test_sweep_never_overwrites_another_runs_results_silently(files, capsys, monkeypatch):
    out = files / "out"
    out.mkdir()
    (out / "sweep.png").write_bytes(b"an old figure")
    calls = counting_rows(monkeypatch)
    fails(sweep_argv(files, "--ds", "1"), capsys, "sweep.png of an earlier run.*--restart")
    assert calls == [] and (out / "sweep.png").read_bytes() == b"an old figure"
    assert cli.main(sweep_argv(files, "--ds", "1", "--max-seconds", "2", "--restart")) == 0
    assert calls == [1] and (out / "sweep.png").read_bytes() != b"an old figure"
    fails(sweep_argv(files, "--ds", "1", "--max-seconds", "3"), capsys, "other settings")
    np.save(files / "p.npy", np.full((20, 15), 1 / 15))
    fails(sweep_argv(files, "--ds", "1", "--max-seconds", "2"), capsys, "another target")


def test_sweep_removes_the_temporary_files_a_killed_run_left(files, capsys, monkeypatch):
    out = files / "out"
    out.mkdir()
    for name in (".sweep.csv.k1x.tmp", ".sweep.png.k2y.tmp", ".sweep.json.k3z.tmp"):
        (out / name).write_text("partial")
    assert cli.main(sweep_argv(files, "--ds", "1", "--max-seconds", "2")) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        ".sweep.lock",
        "sweep.csv",
        "sweep.json",
        "sweep.png",
    ]


def test_cli_solver_budget_defaults_to_solves():
    from bottleneck.optim.solver import DEFAULT_MAX_SECONDS

    assert cli.DEFAULT_MAX_SECONDS == DEFAULT_MAX_SECONDS  # no unbounded default run
    for argv in (["solve", "x.npy", "--d", "2"], ["bounds", "x.npy", "--d", "2", "--solve"]):
        assert cli.parser().parse_args(argv).max_seconds == DEFAULT_MAX_SECONDS
