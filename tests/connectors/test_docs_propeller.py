"""docs/connectors.md tells a platform engineer how to point propeller at `shim connectors
serve`: its YAML must use propeller's own keys, and say which Flyte 1.x releases have which
plugin.

The keys are the ``json`` tags of propeller's config structs in Flyte v1.16.8
(``flyteplugins/go/tasks/plugins/webapi/{agent,connector}/config.go``,
``.../pluginmachinery/webapi/pluginconfig.go``,
``flytepropeller/pkg/controller/nodes/task/config/config.go``); a key propeller does not know
is silently ignored there, so a typo in the docs would leave a cluster misconfigured.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

DOC = Path(__file__).resolve().parents[2] / "docs" / "connectors.md"

#: plugin id -> (its config section's keys, the key of its default deployment)
PLUGINS = {
    "agent-service": (
        {
            "webApi",
            "resourceConstraints",
            "defaultAgent",
            "agents",
            "agentForTaskTypes",
            "supportedTaskTypes",
            "pollInterval",
        },
        "defaultAgent",
    ),
    "connector-service": (
        {
            "webApi",
            "resourceConstraints",
            "defaultConnector",
            "connectors",
            "connectorForTaskTypes",
            "supportedTaskTypes",
            "pollInterval",
        },
        "defaultConnector",
    ),
}
DEPLOYMENT = {"endpoint", "insecure", "defaultServiceConfig", "timeouts", "defaultTimeout"}
TIMEOUT_OPERATIONS = {"CreateTask", "GetTask", "DeleteTask", "ExecuteTaskSync"}
WEB_API = {"resourceQuotas", "readRateLimiter", "writeRateLimiter", "caching", "resourceMeta"}
CACHING = {"size", "resyncInterval", "workers", "maxSystemFailures"}
TASK_PLUGINS = {"enabled-plugins", "default-for-task-types"}


def propeller_blocks() -> list[dict]:
    text = DOC.read_text()
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]
    return [b for b in blocks if isinstance(b, dict) and "plugins" in b]


def test_the_propeller_config_uses_propellers_keys():
    blocks = propeller_blocks()
    assert {next(iter(b["plugins"])) for b in blocks} == set(PLUGINS)  # one example each
    for block in blocks:
        ((plugin, section),) = block["plugins"].items()
        keys, default = PLUGINS[plugin]
        assert set(section) <= keys, (plugin, set(section) - keys)
        assert set(section[default]) <= DEPLOYMENT
        assert set(section[default].get("timeouts", {})) <= TIMEOUT_OPERATIONS
        assert section[default]["endpoint"].startswith("dns:///")
        web = section.get("webApi", {})
        assert set(web) <= WEB_API and set(web.get("caching", {})) <= CACHING
        tp = block["tasks"]["task-plugins"]
        assert set(tp) <= TASK_PLUGINS
        assert plugin in tp["enabled-plugins"]
        # the docker connector's task type is routed to the plugin and declared supported
        assert tp["default-for-task-types"]["container_job"] == plugin
        assert "container_job" in section["supportedTaskTypes"]


def test_the_docs_say_which_release_has_which_plugin():
    # connector-service first shipped in v1.15.1; agent-service is still in v1.16.8; both call
    # flyteidl.service.AsyncAgentService, and both reject the RETRYABLE_FAILED phase before 1.16
    text = " ".join(DOC.read_text().split())
    assert "With `connector-service` (Flyte 1.15.1 and later):" in text
    assert "With `agent-service` (Flyte 1.10 and later; the only choice before 1.15.1):" in text
    assert "`flyteidl.service.AsyncAgentService`" in text
    assert "propeller before 1.16" in text
