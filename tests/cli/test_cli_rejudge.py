"""`hil rejudge`: a stored run judged again; a tampered observation must fail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hil.cli.main import cli
from hil.scenario.bundle import write_bundle
from tests.cli.fake_lab import run_fake_scenario


def rejudge(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["rejudge", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """A bundle of a fake run whose machine agreed with the model at every step."""
    result = run_fake_scenario(tmp_path)
    assert result.ok
    return write_bundle(result, tmp_path / "evidence")


def test_an_untouched_bundle_is_still_ok(bundle: Path) -> None:
    code, out, err = rejudge(str(bundle))
    assert (code, err) == (0, "")
    assert out.startswith(f"{bundle}: ok\n")


def test_a_tampered_observation_fails_and_names_the_field(bundle: Path) -> None:
    body = json.loads(bundle.read_text())
    fire = body["steps"][1]["observed"]
    (delivery,) = fire["deliveries"]
    cpu = delivery["per_cpu"][0][0]
    delivery["per_cpu"] = [[(cpu + 1) % 4, 1]]
    bundle.write_text(json.dumps(body))
    code, out, _err = rejudge(str(bundle))
    assert code == 1
    assert f"{bundle}: MISMATCH" in out
    assert "delivered.nic[0].per_cpu" in out


def test_every_bundle_is_reported_and_one_bad_one_fails_the_command(
    bundle: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    code, out, err = rejudge(str(bundle), str(broken), str(listed))
    assert code == 1
    assert f"{bundle}: ok" in out
    assert f"{broken}: not a readable evidence bundle" in err
    assert f"{listed}: bad bundle" in err


def test_json_output_has_one_report_per_bundle(bundle: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    code, out, _err = rejudge("--json", str(bundle), str(missing))
    assert code == 1
    first, second = json.loads(out)
    assert first["ok"] is True and first["bundle"] == str(bundle)
    assert len(first["steps"]) == 6
    assert "error" in second and str(missing) in second["error"]


def test_a_bundle_of_another_format_is_refused(bundle: Path) -> None:
    body = json.loads(bundle.read_text())
    body["format"] = 99
    bundle.write_text(json.dumps(body))
    code, _out, err = rejudge(str(bundle))
    assert code == 1
    assert "bundle format 99, expected 1" in err


def test_bundles_are_required() -> None:
    code, _out, err = rejudge()
    assert code == 2
    assert "Missing argument 'BUNDLES...'" in err
