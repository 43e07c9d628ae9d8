"""The mutation check's short list (scripts/mutants.py --short): bugs planted in both twins at once (Adam's
betas swapped in train/optim.py, ImageNet std's G and B swapped, MATLAB bicubic with a = -0.75, a Haar
sub-band's sign flipped) must each be caught by a test against an independent reference. The script copies
the project, runs the listed tests once unmutated (they must pass), then once per mutant. About a minute on
one core: each pytest run imports JAX / torch and runs a handful of small tests.
"""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from mutants import MUTATIONS, SHORT, Edit, Mutation, apply_edits  # noqa: E402

sys.path.pop(0)


def test_short_mutation_list_is_caught():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "mutants.py"), "--short"], cwd=ROOT,
                          capture_output=True, text=True, timeout=1200)
    report = proc.stdout[-6000:] + proc.stderr[-3000:]
    assert proc.returncode == 0, report
    for mutation_id in SHORT:
        assert re.search(rf"^caught\s+{mutation_id}\s", proc.stdout, re.M), report
    assert f"{len(SHORT)} of {len(SHORT)} mutations caught" in proc.stdout, report


def test_every_mutation_names_existing_tests_and_edits():
    # cheap static check of the whole list (the full run takes minutes): edits apply exactly once to this
    # tree, and every test file exists
    for m in MUTATIONS:
        for e in m.edits:
            assert (ROOT / e.file).read_text().count(e.old) == 1, (m.id, e.file, e.old)
        for t in m.tests:
            assert (ROOT / t.split("::")[0]).is_file(), (m.id, t)


def test_an_edit_that_does_not_match_exactly_once_is_not_applied(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\nx = 1\ny = 2\n")
    twice = Mutation("t", "", (Edit("a.py", "x = 1", "x = 3"),), ())
    assert "found 2 times" in apply_edits(tmp_path, twice)
    absent = Mutation("t", "", (Edit("a.py", "z = 1", "z = 3"),), ())
    assert "found 0 times" in apply_edits(tmp_path, absent)
    assert "no such file" in apply_edits(tmp_path, Mutation("t", "", (Edit("b.py", "x", "y"),), ()))
    assert apply_edits(tmp_path, Mutation("t", "", (Edit("a.py", "y = 2", "y = 5"),), ())) is None
    assert (tmp_path / "a.py").read_text() == "x = 1\nx = 1\ny = 5\n"
    broken = Mutation("t", "", (Edit("a.py", "y = 5", "y = (5"),), ())
    assert "not valid Python" in apply_edits(tmp_path, broken)
