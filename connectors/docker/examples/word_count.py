"""Example: count the words of a text in a container job (python:3.11-slim-bookworm).

    export DOCKER_HOST=unix:///tmp/podman.sock      # or any Docker-compatible engine
    shim run connectors/docker/examples/word_count.py:word_count -i text="to be or not to be"

The job reads its input from /var/inputs/text and writes its outputs to /var/outputs/<name>.
"""

from shim_docker import ContainerJobTask

SCRIPT = """
import collections, json, pathlib
text = pathlib.Path("/var/inputs/text").read_text()
words = text.split()
out = pathlib.Path("/var/outputs")
(out / "words").write_text(str(len(words)))
(out / "top").write_text(json.dumps([w for w, _ in collections.Counter(words).most_common(2)]))
"""

word_count = ContainerJobTask(
    name="examples.word_count",
    image="python:3.11-slim-bookworm",
    command=["python", "-c", SCRIPT],
    inputs={"text": str},
    outputs={"words": int, "top": list[str]},
    pull=False,
    retries=1,
    timeout=600,
)
