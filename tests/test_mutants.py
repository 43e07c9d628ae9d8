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
from mutants import MUTATIONS, SHORT  # noqa: E402

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
