"""`jrestore verify` end to end: JSON fields, exit status, and clear errors for bad weights files."""
import json

import pytest

torch = pytest.importorskip("torch", reason="needs torch (pip install -e '.[torch]')")

from jrestore.cli import main


def test_verify_json_reports_perturbed_parity(capsys):
    rc = main(["verify", "--model", "espcn", "--set", "scale_factor=2", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["ok"] is True and out["perturbed"] is True
    for key in ("model", "max_abs_diff", "max_abs_diff_train", "grad_max_abs_diff", "tolerance", "layers"):
        assert key in out
    assert out["kwargs"] == {"scale_factor": 2}
    assert 0 < out["grad_max_abs_diff"] < out["tolerance"]["gradient"]
    assert [r["layer"] for r in out["layers"]][:2] == ["first_part.0", "first_part.1"]


def test_verify_loads_a_weights_file(tmp_path, capsys):
    import torch_ref.models

    path = tmp_path / "espcn.pth"
    torch.save(torch_ref.models.get("espcn").state_dict(), path)
    assert main(["verify", "--model", "espcn", "--weights", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["perturbed"] is False and out["ok"] is True


def test_verify_rejects_unfit_unsafe_and_missing_files(tmp_path, capsys):
    import torch_ref.models

    wrong = tmp_path / "srcnn.pth"
    torch.save(torch_ref.models.get("srcnn").state_dict(), wrong)
    assert main(["verify", "--model", "espcn", "--weights", str(wrong)]) == 2
    assert "does not fit ESPCN: missing" in capsys.readouterr().err

    unsafe = tmp_path / "unsafe.pth"
    torch.save({"first_part.0.weight": object()}, unsafe)
    assert main(["verify", "--model", "espcn", "--weights", str(unsafe)]) == 2
    assert "weights_only=True" in capsys.readouterr().err

    assert main(["verify", "--model", "espcn", "--weights", str(tmp_path / "absent.pth")]) == 2
    assert "no such file" in capsys.readouterr().err

    assert main(["verify", "--model", "no_such_model"]) == 2
    assert "valid names" in capsys.readouterr().err


def test_verify_bad_set_argument(capsys):
    assert main(["verify", "--model", "espcn", "--set", "bogus=1"]) == 2
    assert "unknown argument" in capsys.readouterr().err


def test_verify_does_not_import_the_test_package():
    """The shipped command line takes its comparison machinery from jrestore.parity, never parity_tests.

    Run in a fresh interpreter from the repository root, where `parity_tests` *is* importable, so an
    import of it anywhere under `verify` would succeed and show up in sys.modules.
    """
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    code = ("import sys\n"
            "from jrestore.cli import main\n"
            "rc = main(['verify', '--model', 'espcn', '--set', 'scale_factor=2', '--json'])\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'parity_tests')\n"
            "print('LOADED', loaded, file=sys.stderr)\n"
            "sys.exit(rc)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["ok"] is True
    assert "LOADED []" in proc.stderr, proc.stderr[-2000:]
