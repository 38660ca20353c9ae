"""Registration packages: the ``.tgz`` a Flyte cluster accepts, written for shimkit tasks.

The layout is the one ``pyflyte package`` writes, so ``flytectl register files`` (and anything
else that reads pyflyte's packages) takes it unchanged:

- a gzip-compressed tar archive with one member per task, at the top level (no directories);
- each member is a serialized ``flyteidl.admin.TaskSpec`` (``template``: the task's
  ``TaskTemplate``; ``description`` when the task has docs);
- member names are ``<index>_<task name>_1.pb``: the index zero-padded to the digits needed
  for the count (``0``..``9`` for up to ten entities, ``00``..``10`` for eleven), ``1`` being
  the resource type TASK (workflows would be ``2``, launch plans ``3``).

Project, domain and version left empty are filled in at registration (``flytectl register
files --project P --domain D --version V``), as for pyflyte's packages; set here they are
kept. The archive is reproducible: the same tasks give the same bytes (fixed member order,
times, owners and modes, and a gzip header without a timestamp).

Tasks are found in Python modules: every :class:`~shim.task.template.TaskTemplate` bound to
a module-level name of a loaded module (packages are walked recursively), in load order and
then definition order, each task object once.
"""

from __future__ import annotations

import gzip
import importlib
import importlib.util
import io
import os
import pkgutil
import sys
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from shim import idl
from shim.errors import UserError

#: resource type suffix of a task's member name (``flyteidl.core.ResourceType.TASK``)
TASK_RESOURCE_TYPE = 1
DEFAULT_OUTPUT = "flyte-package.tgz"
#: modification time of every member (the archive must not depend on when it was written)
_MTIME = 0


class PackageError(UserError):
    """The modules, tasks or options do not make a valid package."""

    code = "PackageError"


class PackageTargetError(PackageError):
    """A module or file named on the command line does not exist."""


@dataclass(frozen=True)
class ImageMap:
    """Which image each task is registered with.

    ``default`` replaces every task's image; ``named`` replaces the image of the tasks whose
    image repository is the name (``shimkit-sqlite3`` for ``shimkit-sqlite3:0.1.0`` or
    ``ghcr.io/me/shimkit-sqlite3:1``) and wins over ``default``. Neither: the task's own image.
    """

    default: str | None = None
    named: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, specs: Iterable[str]) -> ImageMap:
        """From ``--image`` values: ``URI`` (at most one) or ``NAME=URI`` (names unique)."""
        default: str | None = None
        named: dict[str, str] = {}
        for spec in specs:
            spec = spec.strip()
            name, sep, uri = spec.partition("=")
            if not sep:
                if default is not None:
                    raise PackageError(
                        f"more than one --image without a name ({default!r}, {spec!r}); name "
                        "the others NAME=URI"
                    )
                if not spec:
                    raise PackageError("--image is empty")
                default = spec
                continue
            name, uri = name.strip(), uri.strip()
            if not name or not uri:
                raise PackageError(f"--image {spec!r} must look like NAME=URI or URI")
            if name in named:
                raise PackageError(f"--image names must be unique: {name!r} is given twice")
            named[name] = uri
        return cls(default=default, named=named)

    def image_for(self, image: str) -> str | None:
        """The image to register a task whose own image is ``image`` with (None: keep it)."""
        return self.named.get(repository_name(image), self.default)


def repository_name(image: str) -> str:
    """The last path component of an image reference without tag or digest.

    ``ghcr.io/me/shimkit-sqlite3:0.1.0`` -> ``shimkit-sqlite3``; ``localhost:5000/x`` -> ``x``.
    """
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


@dataclass(frozen=True)
class PackagedTask:
    """One member of a package: its name in the archive, the task's name and its TaskSpec."""

    member: str
    task_name: str
    spec: Any  # idl.TaskSpec


# --- finding tasks ------------------------------------------------------------------------------


def _import(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and name.startswith(e.name):
            raise PackageTargetError(
                f"cannot import {name!r}: no module named {e.name!r} (is --source the directory "
                "that holds it?)"
            ) from None
        raise PackageError(f"importing {name!r} failed: {type(e).__name__}: {e}") from e
    except Exception as e:
        raise PackageError(f"importing {name!r} failed: {type(e).__name__}: {e}") from e


def _load_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise PackageTargetError(f"no such file: {path}")
    sys.path.insert(0, str(path.resolve().parent))
    name = path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PackageError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[name]
        raise PackageError(f"loading {path} failed: {type(e).__name__}: {e}") from e
    return module


def load_modules(targets: Sequence[str], source: str | os.PathLike[str] = ".") -> list[ModuleType]:
    """Import ``targets`` with ``source`` first on ``sys.path``; packages recursively.

    A target is a dotted module or package name (``my_pkg``, ``my_pkg.tasks``) or a path to a
    ``.py`` file. Each module is returned once, in the order it was first reached.
    """
    if not targets:
        raise PackageError("nothing to package: name modules or packages (--pkgs)")
    root = str(Path(source).resolve())
    if root not in sys.path:
        sys.path.insert(0, root)
    importlib.invalidate_caches()
    modules: list[ModuleType] = []
    seen: set[str] = set()

    def add(module: ModuleType) -> None:
        if module.__name__ not in seen:
            seen.add(module.__name__)
            modules.append(module)

    for target in targets:
        if target.endswith(".py") or os.sep in target or "/" in target:
            add(_load_file(Path(target)))
            continue
        module = _import(target)
        add(module)
        path = getattr(module, "__path__", None)
        if path is None:
            continue
        errors: list[str] = []
        for info in pkgutil.walk_packages(path, module.__name__ + ".", onerror=errors.append):
            add(_import(info.name))
        if errors:
            raise PackageError(f"cannot walk package {target!r}: {errors[0]}")
    return modules


def find_tasks(modules: Iterable[ModuleType]) -> list[Any]:
    """Every :class:`~shim.task.template.TaskTemplate` at module level, each object once.

    Two different task objects with the same name are an error: the cluster would keep one.
    """
    from shim.task.template import TaskTemplate

    tasks: list[Any] = []
    ids: set[int] = set()
    names: dict[str, str] = {}
    for module in modules:
        for attr, value in list(vars(module).items()):
            if not isinstance(value, TaskTemplate) or id(value) in ids:
                continue
            where = f"{module.__name__}.{attr}"
            if value.name in names:
                raise PackageError(
                    f"two tasks are named {value.name!r} ({names[value.name]} and {where}); "
                    "task names must be unique in a package"
                )
            ids.add(id(value))
            names[value.name] = where
            tasks.append(value)
    return tasks


# --- serializing -------------------------------------------------------------------------------


def task_spec(
    task: Any,
    *,
    project: str = "",
    domain: str = "",
    version: str = "",
    images: ImageMap | None = None,
) -> Any:
    """The ``flyteidl.admin.TaskSpec`` of ``task`` (template plus description)."""
    from shim.task.serialize import to_idl
    from shim.task.template import SerializationContext

    images = images or ImageMap()
    image = images.image_for(task.image)
    sctx = SerializationContext(project=project, domain=domain, version=version, image=image)
    template = to_idl(task, sctx)
    if not template.HasField("container") and not template.HasField("sql"):
        raise PackageError(
            f"task {task.name!r} ({type(task).__name__}) has no container and no SQL statement: "
            "a cluster cannot run it; package pre-built container tasks "
            "(PythonCustomizedContainerTask subclasses)"
        )
    if template.HasField("container") and not template.container.args:
        raise PackageError(f"task {task.name!r} has a container with no args: nothing would run")
    spec = idl.TaskSpec()
    spec.template.CopyFrom(template)
    docs = getattr(task, "docs", None)
    if docs is not None:
        if docs.short_description:
            spec.description.short_description = docs.short_description
        if docs.long_description:
            spec.description.long_description.value = docs.long_description
    return spec


def index_width(count: int) -> int:
    """Digits of the member-name index: enough for ``count - 1`` (pyflyte's rule)."""
    return len(str(count - 1)) if count > 0 else 0


def member_name(index: int, count: int, task_name: str) -> str:
    return f"{str(index).zfill(index_width(count))}_{task_name}_{TASK_RESOURCE_TYPE}.pb"


def package_tasks(
    tasks: Sequence[Any],
    *,
    project: str = "",
    domain: str = "",
    version: str = "",
    images: ImageMap | None = None,
) -> list[PackagedTask]:
    """The members of a package for ``tasks``, in order."""
    if not tasks:
        raise PackageError("nothing to package: no shimkit tasks were found")
    out = []
    for i, task in enumerate(tasks):
        spec = task_spec(task, project=project, domain=domain, version=version, images=images)
        out.append(PackagedTask(member_name(i, len(tasks), task.name), task.name, spec))
    return out


def archive_bytes(members: Sequence[PackagedTask]) -> bytes:
    """The ``.tgz`` of ``members``: reproducible bytes."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for m in members:
            data = idl.serialize(m.spec)
            info = tarfile.TarInfo(m.member)
            info.size = len(data)
            info.mtime = _MTIME
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=_MTIME, filename="") as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def write_package(
    members: Sequence[PackagedTask], output: str | os.PathLike[str], *, force: bool = False
) -> Path:
    """Write the archive to ``output`` atomically; an existing file needs ``force``."""
    path = Path(output)
    if path.exists() and not force:
        raise PackageError(f"{path} already exists; pass --force (-f) to overwrite it")
    if path.is_dir():
        raise PackageError(f"{path} is a directory; name the .tgz file to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(archive_bytes(members))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def package(
    targets: Sequence[str],
    output: str | os.PathLike[str] = DEFAULT_OUTPUT,
    *,
    source: str | os.PathLike[str] = ".",
    project: str = "",
    domain: str = "",
    version: str = "",
    images: Sequence[str] = (),
    force: bool = False,
) -> list[PackagedTask]:
    """Load ``targets``, find their tasks and write the registration package to ``output``."""
    image_map = ImageMap.parse(images)
    tasks = find_tasks(load_modules(targets, source))
    members = package_tasks(
        tasks, project=project, domain=domain, version=version, images=image_map
    )
    write_package(members, output, force=force)
    return members


def read_package(path: str | os.PathLike[str]) -> list[tuple[str, Any]]:
    """``(member name, TaskSpec)`` for each member of a package (for checks and tests)."""
    out = []
    with tarfile.open(path, "r:gz") as tar:
        for info in tar.getmembers():
            f = tar.extractfile(info)
            if f is None:
                continue
            spec = idl.TaskSpec()
            spec.ParseFromString(f.read())
            out.append((info.name, spec))
    return out
