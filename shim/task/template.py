"""``TaskTemplate``: the authoring-side description of a task, with flyte-sdk's fields."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from shim.runtime.template import DEFAULT_MAX_INLINE_IO_BYTES
from shim.task.interface import NativeInterface
from shim.task.resources import (
    Cache,
    Documentation,
    PodTemplate,
    Resources,
    RetryStrategy,
    ReusePolicy,
    Secret,
    Timeout,
    as_timedelta,
    retry_count,
)

_UNSET: Any = object()

#: fields that ``override`` never changes
FIXED_FIELDS = ("name", "image", "docs", "interface")
#: fields a reusable task keeps unless the same ``override`` call passes ``reusable="off"``
REUSE_BOUND_FIELDS = ("resources", "env_vars", "secrets", "service_account")
#: keyword arguments a local call (``task(...)``) takes as run options, for a task that has
#: no input of that name; ``shim.with_runcontext(...).run(task, ...)`` sets them for any task
CALL_RUN_OPTIONS = ("runner", "store")


@dataclass(frozen=True)
class SerializationContext:
    """Where a template is being serialized for: identity and an optional image override."""

    project: str = "local"
    domain: str = "development"
    version: str = "local"
    image: str | None = None


@dataclass(eq=False, kw_only=True)
class TaskTemplate:
    """A task as a template: what to run, with which settings.

    Settings can be changed per call with :meth:`override`, which returns a new template and
    leaves this one untouched. Calling the template runs it locally through the same path a
    cluster uses (see :meth:`forward`).
    """

    name: str
    interface: NativeInterface = field(default_factory=NativeInterface)
    short_name: str = ""
    task_type: str = "python"
    task_type_version: int = 0
    image: str = "auto"
    resources: Resources | None = None
    cache: Cache | str = "disable"
    interruptible: bool = False
    retries: int | RetryStrategy = 0
    reusable: ReusePolicy | None = None
    docs: Documentation | None = None
    env_vars: dict[str, str] | None = None
    secrets: Secret | str | list[Secret | str] | None = None
    timeout: Timeout | int | Any | None = None
    pod_template: str | PodTemplate | None = None
    report: bool = False
    queue: str | None = None
    debuggable: bool = False
    max_inline_io_bytes: int = DEFAULT_MAX_INLINE_IO_BYTES
    service_account: str | None = None

    def __post_init__(self) -> None:
        self._validate()

    # --- validation --------------------------------------------------------------------------

    def _validate(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"task name must be a non-empty string, got {self.name!r}")
        if not self.short_name:
            self.short_name = self.name.rsplit(".", 1)[-1]
        retry_count(self.retries)
        as_timedelta(self.timeout)
        if isinstance(self.cache, str) and self.cache not in ("auto", "override", "disable"):
            raise ValueError(
                f"cache must be 'auto', 'override', 'disable' or a Cache, got {self.cache!r}"
            )
        if (
            isinstance(self.max_inline_io_bytes, bool)
            or not isinstance(self.max_inline_io_bytes, int)
            or self.max_inline_io_bytes <= 0
        ):
            raise ValueError(
                f"max_inline_io_bytes must be a positive int, got {self.max_inline_io_bytes!r}"
            )
        if self.service_account is not None and not isinstance(self.service_account, str):
            raise ValueError(f"service_account must be a string, got {self.service_account!r}")
        if self.env_vars is not None and not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.env_vars.items()
        ):
            raise ValueError(f"env_vars must map str to str, got {self.env_vars!r}")

    @property
    def native_interface(self) -> NativeInterface:
        """The Python-typed interface (flyte-sdk's name for :attr:`interface`)."""
        return self.interface

    @property
    def source_file(self) -> str | None:
        """The file that defined this task's class, when there is one."""
        import inspect

        try:
            return inspect.getsourcefile(type(self))
        except TypeError:
            return None

    @property
    def cache_policy(self) -> Cache:
        return self.cache if isinstance(self.cache, Cache) else Cache(behavior=self.cache)

    @property
    def secret_list(self) -> list[Secret]:
        if self.secrets is None:
            return []
        items = self.secrets if isinstance(self.secrets, list | tuple) else [self.secrets]
        return [s if isinstance(s, Secret) else Secret(group=s) for s in items]

    # --- what goes into the serialized template (override in subclasses) -----------------

    def config(self, sctx: SerializationContext) -> dict[str, str]:
        """Extra key/value configuration for the task's plugin (``TaskTemplate.config``)."""
        return {}

    def custom_config(self, sctx: SerializationContext) -> dict[str, Any]:
        """The JSON-able ``custom`` of the template (a protobuf Struct on the wire)."""
        return {}

    def container_args(self, sctx: SerializationContext) -> list[str]:
        """The container's command line; the whole command for pre-built container tasks."""
        return []

    def sql(self, sctx: SerializationContext) -> str | None:
        """The SQL statement of a SQL task that the platform runs itself (not shimkit's)."""
        return None

    def data_loading_config(self, sctx: SerializationContext) -> Any:
        """Flyte CoPilot data loading; shimkit's pre-built tasks load their own data."""
        return None

    def local_paths(self, sctx: SerializationContext) -> list[str]:
        """Absolute paths on this machine that the template makes the task read (a database
        file, a directory of models). The container runner mounts each existing one read-only
        at the same path; nothing else uses them. Empty by default."""
        return []

    # --- local execution -----------------------------------------------------------------

    def pre(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Before a local call: the inputs by name (see :meth:`bind_inputs`)."""
        return self.bind_inputs(*args, **kwargs)

    def bind_inputs(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Bind positional arguments to input names (declaration order) and match the names
        against the interface (:func:`shim.types.bind_names`: a missing Optional input is
        None; a missing required or an unknown one is a ``TypeError``)."""
        from shim.types import InterfaceMismatchError, bind_names

        names = list(self.interface.inputs)
        if len(args) > len(names):
            raise TypeError(f"{self.name}() takes {len(names)} inputs, {len(args)} were given")
        bound = dict(zip(names, args, strict=False))
        for k, v in kwargs.items():
            if k in bound:
                raise TypeError(f"{self.name}() got input {k!r} twice")
            bound[k] = v
        try:
            return bind_names(bound, self.interface.inputs, what="input")
        except InterfaceMismatchError as e:
            raise InterfaceMismatchError(
                "input", e.missing, e.unexpected, names, where=f"{self.name}()"
            ) from None

    def execute(self, **kwargs: Any) -> Any:
        """Run the task in this process through the runtime (what a local call does)."""
        return self.run_locally(self.pre(**kwargs), runner="inprocess")

    def post(self, return_vals: Any) -> Any:
        return return_vals

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Run locally: serialize, stage inputs, run ``shim execute``'s code, decode outputs.

        For a task without an input of that name, ``runner=`` (``"inprocess"``, the default
        or ``SHIM_RUNNER``, ``"subprocess"`` or ``"container"``) and ``store=`` (the object
        store URL of the runs, default ``SHIM_LOCAL_STORE`` or ``<tmp>/shimkit-runs``) are run
        options; for any task, ``shim.with_runcontext(runner=..., store=..., name=...,
        timeout=...).run(task, ...)`` keeps run options apart from inputs.
        """
        options = self._run_options(kwargs)
        inputs = self.pre(*args, **kwargs)
        return self.run_locally(inputs, **options)

    def run_locally(self, inputs: dict[str, Any], **options: Any) -> Any:
        """Run with ``inputs`` bound by name through the controller (the local runners install
        it: they sit above this layer) and return the result as a call does. ``options``:
        ``runner``, ``store``, ``name``, ``timeout`` (see ``shim.with_runcontext``)."""
        from shim.runtime.controller import get_controller

        return self.post(get_controller().submit_sync(self, inputs, **options))

    def _run_options(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Take the run options (``runner=``, ``store=``) out of a call's keyword arguments,
        where the task has no input of that name."""
        return {
            k: kwargs.pop(k)
            for k in CALL_RUN_OPTIONS
            if k in kwargs and k not in self.interface.inputs
        }

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from shim.runtime import trace

        if trace.in_task():  # a nested call inside a running task
            trace.check_task_call_allowed(self.name)
            refuse_blocking_call_in_async_code(self.name)
        return self.forward(*args, **kwargs)

    async def aio(self, *args: Any, **kwargs: Any) -> Any:
        """Run the task from async code without blocking the event loop (run options as in
        :meth:`forward`)."""
        from shim.runtime import trace
        from shim.runtime.controller import get_controller

        trace.check_task_call_allowed(self.name)
        options = self._run_options(kwargs)
        inputs = self.pre(*args, **kwargs)
        result = await get_controller().submit(self, inputs, **options)
        return self.post(result)

    # --- override ------------------------------------------------------------------------

    def override(
        self,
        *,
        short_name: str = _UNSET,
        resources: Resources | None = _UNSET,
        cache: Cache | str = _UNSET,
        retries: int | RetryStrategy = _UNSET,
        timeout: Timeout | int | Any | None = _UNSET,
        reusable: ReusePolicy | str | None = _UNSET,
        env_vars: dict[str, str] | None = _UNSET,
        secrets: Secret | str | list | None = _UNSET,
        max_inline_io_bytes: int = _UNSET,
        pod_template: str | PodTemplate | None = _UNSET,
        queue: str | None = _UNSET,
        interruptible: bool = _UNSET,
        service_account: str | None = _UNSET,
        **kwargs: Any,
    ) -> TaskTemplate:
        """A new template with some settings changed; this one is left untouched.

        ``name``, ``image``, ``docs`` and ``interface`` cannot be overridden (ValueError).
        On a reusable task, ``resources``, ``env_vars`` and ``secrets`` can only change in a
        call that also passes ``reusable="off"``. A value passed explicitly always applies,
        even a falsy one (``retries=0``, ``env_vars={}``).
        """
        for fixed in FIXED_FIELDS:
            if fixed in kwargs:
                raise ValueError(
                    f"{fixed!r} cannot be overridden; define a new task with a different {fixed}"
                )
        if kwargs:
            raise TypeError(f"override() got unexpected arguments {sorted(kwargs)}")
        changes = {
            k: v
            for k, v in dict(
                short_name=short_name,
                resources=resources,
                cache=cache,
                retries=retries,
                timeout=timeout,
                reusable=reusable,
                env_vars=env_vars,
                secrets=secrets,
                max_inline_io_bytes=max_inline_io_bytes,
                pod_template=pod_template,
                queue=queue,
                interruptible=interruptible,
                service_account=service_account,
            ).items()
            if v is not _UNSET
        }
        reuse_off = changes.get("reusable") == "off"
        if isinstance(changes.get("reusable"), str) and not reuse_off:
            raise ValueError(f"reusable must be a ReusePolicy, None or 'off', got {reusable!r}")
        if self.reusable is not None and not reuse_off:
            bound = [k for k in REUSE_BOUND_FIELDS if k in changes]
            if bound:
                raise ValueError(
                    f"cannot override {', '.join(bound)} of reusable task {self.name!r}: its "
                    "container is shared between calls; pass reusable='off' in the same call"
                )
        if reuse_off:
            changes["reusable"] = None
        new = copy.copy(self)
        for k, v in changes.items():
            setattr(new, k, dict(v) if isinstance(v, dict) else v)
        new._validate()
        return new


def refuse_blocking_call_in_async_code(name: str) -> None:
    """A blocking task call from a coroutine of a running task would stall its event loop."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    from shim.errors import SyncTaskCallInAsyncContextError

    raise SyncTaskCallInAsyncContextError(
        f"task {name!r} was called in a blocking way from async code, which would block the "
        f"event loop; use 'await {name.rsplit('.', 1)[-1]}.aio(...)'"
    )
