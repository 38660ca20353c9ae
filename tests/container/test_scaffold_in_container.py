"""The executor ``shim new executor`` writes passes its own container tests unchanged: its
conftest builds its image FROM the base image built from this tree, and ``shim_run`` runs the
task in it (the engine is required here, so nothing is skipped)."""

from __future__ import annotations

from tests.support.scaffold import forwarded, generate, run_its_tests


def test_generated_executor_passes_its_own_tests_in_its_image(tmp_path, base_image):
    g = generate(tmp_path, "greet")
    out = run_its_tests(
        g,
        "--shim-runner",
        "container",
        env={"SHIM_REQUIRE_CONTAINERS": "1", **forwarded("DOCKER_HOST")},
    )
    assert out.proc.returncode == 0, out.summary()
    assert out.results and set(out.results.values()) == {"passed"}, out.results
    ran = {k.rsplit("::", 1)[1] for k in out.results}
    assert {"test_greets[container]", "test_an_empty_name_is_the_users_mistake[container]"} <= ran
