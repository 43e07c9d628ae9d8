"""`jrestore bench --tune-xla` and the runtime's choice of XLA CPU flags: which candidate wins (fake
measurements, no timing), the per-machine cache (key, atomic write, other machines kept, broken files
ignored), and apply_xla_defaults using a matching cache entry and falling back to the measured default."""
import json

import pytest

from jrestore import runtime
from jrestore.bench import xla_tune

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9B14
flags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512_bf16 hypervisor constant_tsc
processor\t: 1
model name\t: AMD EPYC 9B14
"""
HERE = runtime.machine_identity(CPUINFO, jaxlib="0.10.2")


def _m(train, infer):
    return {"flags": "--f", "train_ms": list(train), "infer_ms": list(infer)}


def test_identity_reads_name_and_isa_features_only():
    assert HERE == {"cpu": "AMD EPYC 9B14", "isa": ["avx", "avx2", "avx512_bf16", "avx512f", "fma", "sse4_2"],
                    "jaxlib": "0.10.2"}
    assert runtime.machine_key(HERE) == "AMD EPYC 9B14 | avx,avx2,avx512_bf16,avx512f,fma,sse4_2 | jaxlib 0.10.2"


def test_choose_keeps_the_incumbent_inside_the_margin():
    measured = {"eigen_conv": _m([100, 104, 98], [20, 21, 19]), "challenger": _m([97, 99, 96], [20, 20, 20])}
    pick = xla_tune.choose(measured, incumbent="eigen_conv", margin=0.05)
    assert pick["name"] == "eigen_conv" and "within 5%" in pick["why"]
    assert pick["score_ms"] == {"eigen_conv": 120.0, "challenger": 117.0}  # median train + median infer
    pick = xla_tune.choose(measured, incumbent="eigen_conv", margin=0.0)
    assert pick["name"] == "challenger"


def test_choose_takes_a_clearly_faster_challenger_and_skips_failures():
    measured = {"eigen_conv": _m([100, 110], [20, 20]), "fast": _m([70, 74], [15, 15]),
                "broken": {"flags": "--nope", "error": "exit -6: unknown flag"}}
    pick = xla_tune.choose(measured, incumbent="eigen_conv", margin=0.05)
    assert pick["name"] == "fast" and pick["flags"] == "--f" and set(pick["score_ms"]) == {"eigen_conv", "fast"}
    assert pick["score_ms"]["fast"] == pytest.approx(87.0) and pick["score_ms"]["eigen_conv"] == pytest.approx(125.0)
    # the incumbent's flag unknown to this jaxlib: the fastest that ran wins
    pick = xla_tune.choose({"eigen_conv": {"flags": "x", "error": "exit -6"}, "slow": _m([9], [9]),
                            "quick": _m([5], [5])}, incumbent="eigen_conv")
    assert pick["name"] == "quick"
    with pytest.raises(ValueError, match="no candidate ran"):
        xla_tune.choose({"a": {"flags": "", "error": "boom"}})


def test_measure_interleaves_rounds_and_stops_asking_a_failed_candidate():
    calls = []

    def fake_probe(flags, steps, warmup):
        calls.append(flags)
        if flags == "--bad":
            return {"error": "exit -6: unknown flag"}
        return {"train_ms": 10.0 + len(calls), "infer_ms": 1.0}

    out = xla_tune.measure_candidates({"a": "--a", "b": "--b", "bad": "--bad"}, rounds=2, steps=3, warmup=0,
                                      run_probe=fake_probe)
    assert calls == ["--a", "--b", "--bad", "--a", "--b"]  # A B C, A B: round by round
    assert out["a"]["train_ms"] == [11.0, 14.0] and out["b"]["train_ms"] == [12.0, 15.0]
    assert out["bad"] == {"flags": "--bad", "error": "exit -6: unknown flag"}
    with pytest.raises(ValueError, match="rounds"):
        xla_tune.measure_candidates({"a": ""}, rounds=0, run_probe=fake_probe)


def test_cache_is_keyed_by_machine_and_keeps_other_machines(tmp_path):
    path = tmp_path / "sub" / "xla_settings.json"
    other = dict(HERE, isa=HERE["isa"][:-1])  # same name, fewer ISA features: another machine
    runtime.store_xla_setting({"name": "other_choice", "flags": "--x"}, other, path)
    runtime.store_xla_setting({"name": "jaxlib_default", "flags": "", "why": "w"}, HERE, path)
    data = json.loads(path.read_text())
    assert data["version"] == 1 and len(data["entries"]) == 2
    assert [p.name for p in path.parent.iterdir()] == ["xla_settings.json"]  # no temporary left behind
    assert runtime.cached_xla_setting(HERE, path)["name"] == "jaxlib_default"
    assert runtime.cached_xla_setting(other, path)["name"] == "other_choice"
    assert runtime.cached_xla_setting(dict(HERE, jaxlib="0.11.0"), path) is None  # another jaxlib: not valid
    with pytest.raises(ValueError, match="entry"):
        runtime.store_xla_setting({"name": "x"}, HERE, path)


def test_cache_dir_follows_jrestore_cache_then_xdg(tmp_path):
    assert runtime.xla_cache_path({"JRESTORE_CACHE": str(tmp_path)}) == tmp_path / "xla_settings.json"
    assert runtime.xla_cache_path({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "jrestore" / "xla_settings.json"


def test_choice_uses_a_matching_entry_else_the_measured_default(tmp_path, monkeypatch):
    monkeypatch.setattr(runtime, "_jaxlib_version", lambda: runtime.SUPPORTED_JAXLIB[0])
    path = tmp_path / "xla_settings.json"
    env = {"JRESTORE_CACHE": str(tmp_path)}
    default = runtime.xla_setting_choice(env, identity=HERE)
    assert (default["name"], default["flags"], default["source"]) == ("eigen_conv", runtime.CPU_CONV_FLAG, "default")
    runtime.store_xla_setting({"name": "eigen_conv_onednn", "flags": "--xla_cpu_use_onednn=true",
                               "measured_at": "2026-12-03 15:00 UTC"}, HERE, path)
    cached = runtime.xla_setting_choice(env, identity=HERE)
    assert (cached["name"], cached["flags"], cached["source"]) == ("eigen_conv_onednn", "--xla_cpu_use_onednn=true",
                                                                   "cache")
    assert "measured on this CPU on 2026-12-03" in cached["reason"]
    assert runtime.xla_setting_choice(env, identity=dict(HERE, cpu="Intel Xeon"))["source"] == "default"
    # a jaxlib jrestore never measured: no default, but a cache entry measured with it is used
    monkeypatch.setattr(runtime, "_jaxlib_version", lambda: (9, 99))
    assert runtime.xla_setting_choice(env, identity=dict(HERE, cpu="Intel Xeon"))["flags"] is None
    assert runtime.xla_setting_choice(env, identity=HERE)["source"] == "cache"


def test_a_broken_cache_file_falls_back_to_the_default(tmp_path, monkeypatch):
    monkeypatch.setattr(runtime, "_jaxlib_version", lambda: runtime.SUPPORTED_JAXLIB[0])
    for text in ("{not json", json.dumps({"version": 99, "entries": {}}), json.dumps([1, 2]),
                 json.dumps({"version": 1, "entries": {runtime.machine_key(HERE): {"name": 3, "flags": None}}})):
        (tmp_path / "xla_settings.json").write_text(text)
        assert runtime.read_xla_cache(tmp_path / "xla_settings.json") == {}
        assert runtime.xla_setting_choice({"JRESTORE_CACHE": str(tmp_path)}, identity=HERE)["source"] == "default"


def test_apply_uses_the_cached_flags_and_reports_them(tmp_path, monkeypatch):
    monkeypatch.setattr(runtime, "_jaxlib_version", lambda: runtime.SUPPORTED_JAXLIB[0])
    here = runtime.machine_identity()  # apply_xla_defaults looks up the running machine
    path = tmp_path / "xla_settings.json"
    runtime.store_xla_setting({"name": "eigen_conv_onednn", "flags": "--xla_cpu_use_onednn=true"}, here, path)
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JRESTORE_CACHE": str(tmp_path)}
    status = runtime.apply_xla_defaults(env)
    assert status["applied"] and status["source"] == "cache" and status["setting"] == "eigen_conv_onednn"
    assert env["XLA_FLAGS"] == "--xla_force_host_platform_device_count=2 --xla_cpu_use_onednn=true"
    # a user's own oneDNN or YNN option wins over the cache
    user = {"XLA_FLAGS": "--xla_cpu_use_onednn=false", "JRESTORE_CACHE": str(tmp_path)}
    assert not runtime.apply_xla_defaults(user)["applied"] and user["XLA_FLAGS"] == "--xla_cpu_use_onednn=false"
    # the measurement chose jaxlib's own default: nothing appended, and the status says why
    runtime.store_xla_setting({"name": "jaxlib_default", "flags": ""}, here, path)
    plain = {"JRESTORE_CACHE": str(tmp_path)}
    status = runtime.apply_xla_defaults(plain)
    assert not status["applied"] and status["setting"] == "jaxlib_default" and status["source"] == "cache"
    assert "XLA_FLAGS" not in plain and "measured on this CPU" in status["reason"]


def test_tune_stores_the_winner_for_this_machine(tmp_path):
    def fake_probe(flags, steps, warmup):
        return {"train_ms": 50.0 if "onednn" in flags else 100.0, "infer_ms": 10.0}

    record = xla_tune.tune(rounds=1, steps=2, warmup=0, cache_path=tmp_path / "c.json", run_probe=fake_probe)
    assert record["name"] == "eigen_conv_onednn" and record["cache"] == str(tmp_path / "c.json")
    entry = runtime.cached_xla_setting(runtime.machine_identity(), tmp_path / "c.json")
    assert entry["name"] == "eigen_conv_onednn" and entry["flags"] == xla_tune.CANDIDATES["eigen_conv_onednn"]
    assert set(entry["measured"]) == set(xla_tune.CANDIDATES) and entry["rounds"] == 1


def test_cli_tune_xla_stores_and_prints_the_choice(tmp_path, monkeypatch, capsys):
    """`jrestore bench --tune-xla --json`: the probe processes faked (no timing), the record printed and cached
    under $JRESTORE_CACHE; without --json one readable paragraph naming the choice and the file."""
    from jrestore.cli import main

    asked = []

    def fake_probe(flags, steps, warmup):
        asked.append((steps, warmup))
        return {"train_ms": 30.0 if flags == "" else 60.0, "infer_ms": 5.0}  # jaxlib's default clearly faster

    monkeypatch.setattr(xla_tune, "_run_probe", fake_probe)
    monkeypatch.setenv("JRESTORE_CACHE", str(tmp_path))
    assert main(["bench", "--tune-xla", "--json", "--rounds", "1", "--steps", "3", "--warmup", "0"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["name"] == "jaxlib_default" and record["flags"] == "" and record["rounds"] == 1
    assert "busy_warning" in record  # None on a quiet machine, a sentence on a busy one
    assert set(asked) == {(3, 0)} and len(asked) == len(xla_tune.CANDIDATES)
    assert runtime.cached_xla_setting(path=tmp_path / "xla_settings.json")["name"] == "jaxlib_default"
    assert main(["bench", "--tune-xla", "--rounds", "1"]) == 0
    text = capsys.readouterr().out
    assert "jaxlib_default [no flags]" in text and str(tmp_path / "xla_settings.json") in text


def test_probe_times_the_bench_own_quick_steps_of_a_real_model(monkeypatch):
    """The probe is the bench's DnCNN --quick train and infer steps (a bare convolution stack chose a setting
    1.7x slower on DnCNN); the steps are faked here, so nothing compiles and nothing is timed for real."""
    from jrestore.bench import jax_runner, measure

    built = []

    def fake(kind):
        def build(spec, devices):
            built.append((kind, spec.name, devices, spec.describe()))
            return (lambda: None), None, spec.batch, None
        return build

    monkeypatch.setattr(jax_runner, "jax_train", fake("train"))
    monkeypatch.setattr(jax_runner, "jax_infer", fake("infer"))
    monkeypatch.setattr(measure, "time_steps", lambda step, steps, warmup: {"median_ms": 10.0 * steps + warmup})
    assert xla_tune.probe(3, 1) == {"train_ms": 31.0, "infer_ms": 31.0}
    from jrestore.bench.specs import get_specs
    quick = get_specs(["dncnn"], quick=True)[0].describe()
    assert built == [("train", "dncnn", 1, quick), ("infer", "dncnn", 1, quick)]
