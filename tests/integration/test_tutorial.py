"""docs/tutorial.md works as written: its shell blocks run in order in a fresh venv (the
container steps in tests/container/test_tutorial_in_container.py)."""

from __future__ import annotations

import subprocess

from tests.support.tutorial import TUTORIAL, blocks, script
from tests.support.venv import overlay_venv, venv_env


def test_the_tutorial_marks_what_it_runs():
    found = blocks(TUTORIAL.read_text())
    bash = [(flags, code) for lang, flags, code in found if lang == "bash"]
    assert bash[0][1].splitlines()[1] == "shim new executor greet"
    assert any("container" in flags for flags, _ in bash)
    assert any("shim package" in code for flags, code in bash if "container" not in flags)
    # the cluster steps are shown, not run
    assert any("flytectl register" in code for lang, _, code in found if lang == "text")
    assert not any("flytectl" in code for _, code in bash)


def test_the_tutorial_runs_without_containers(tmp_path):
    bin_dir = overlay_venv(tmp_path / "venv")
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.run(
        ["bash", "-c", script(containers=False)],
        cwd=work,
        env=venv_env(bin_dir, SHIM_LOCAL_STORE=str(tmp_path / "store")),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    out = proc.stdout
    assert "Hi, World! Hi, World!" in out
    assert "kind: RunDirectory" in out and 'message = "Hi, World! Hi, World!"' in out
    assert "kind: Package" in out and "0_tutorial.hello_1.pb (TaskSpec)" in out
    assert "image: registry.example.com/greet:0.1.0" in out
    assert (work / "tutorial" / "greet" / "flyte-package.tgz").is_file()
