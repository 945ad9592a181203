"""The method registry (daftrl.algos): one spec per method, the right classes and kinds, per-task defaults, the
docs' method lists, and no loss file that depends on the environments."""

import ast
import dataclasses
import importlib
import inspect
import pkgutil
import re
import typing
from pathlib import Path

import pytest

import daftrl.algos
from conftest import random_expert
from daftrl.algos import (
    CQL,
    FT,
    KINDS,
    REGISTRY,
    SACMix,
    method_names,
    method_spec,
    method_specs,
    methods_help,
)
from daftrl.algos.par import RECOMMENDED_BETA
from daftrl.sac import SAC

ALGOS = Path(daftrl.algos.__file__).parent
ROOT = Path(__file__).resolve().parents[2]
BASE_OF_KIND = {"adapt": FT, "cotrain": SACMix, "offline": CQL}


def method_classes() -> dict[str, type]:
    """Every concrete method class in daftrl/algos: a SAC subclass that sets its own `name`."""
    found = {}
    for info in pkgutil.iter_modules([str(ALGOS)]):
        module = importlib.import_module(f"daftrl.algos.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, SAC) and "name" in vars(cls) and cls.__module__ == module.__name__:
                found[cls.name] = cls
    return found


def test_every_method_class_is_registered_once_under_its_own_name():
    assert len(method_names()) == len(set(method_names())) == len(REGISTRY)
    classes = method_classes()
    assert set(REGISTRY) == set(classes)
    for name, spec in REGISTRY.items():
        assert spec.name == name == spec.method_cls.name
        assert spec.method_cls is classes[name]


@pytest.mark.parametrize("name", method_names())
def test_the_config_class_is_the_one_the_method_takes(name):
    spec = method_spec(name)
    assert typing.get_type_hints(spec.method_cls)["method_config"] is spec.config_cls
    assert dataclasses.is_dataclass(spec.config_cls)
    config = spec.config_cls()
    method = spec.method_cls(config, random_expert()) if spec.kind == "adapt" else spec.method_cls(config, 3, 1)
    assert method.method_config is config


def test_kinds():
    assert set(KINDS) == {"adapt", "cotrain", "offline"}
    for spec in method_specs():
        assert spec.kind in BASE_OF_KIND, spec
        assert issubclass(spec.method_cls, BASE_OF_KIND[spec.kind]), spec
    for kind, base in BASE_OF_KIND.items():
        assert {s.name for s in method_specs(kind)} == {n for n, c in method_classes().items() if issubclass(c, base)}
    assert method_names("offline") == ("cql",)
    assert method_specs() == tuple(REGISTRY.values())
    with pytest.raises(ValueError, match="unknown method kind 'online'"):
        method_specs("online")


def test_lookups_and_their_errors():
    for kind in ("adapt", "cotrain"):
        names = method_names(kind)
        for name in names:
            spec = method_spec(name, kind)
            assert spec.name == name and spec.kind == kind and spec.method_cls.name == name
        other = next(n for n in method_names() if n not in names)
        with pytest.raises(ValueError) as e:
            method_spec(other, kind)  # a method of the other kind is unknown here
        assert str(e.value).startswith(f"unknown method {other!r}; choose one of {', '.join(names)}")
        misspelt = names[0][:-1] + "x" + names[0][-1]
        with pytest.raises(ValueError, match=rf"did you mean .*{re.escape(names[0])}"):
            method_spec(misspelt, kind)
    with pytest.raises(ValueError, match=r"^unknown method 'nope'; choose one of [^(]*$"):
        method_spec("nope")


def test_help_lists_every_method_with_its_one_line_summary():
    for kind in ("adapt", "cotrain"):
        lines = methods_help(kind).splitlines()
        assert len(lines) == len(method_names(kind))
        for line, spec in zip(lines, method_specs(kind), strict=True):
            assert spec.summary and "\n" not in spec.summary
            assert line.split() == [spec.name, *spec.summary.split()]


def _task_of(robot: str) -> str:
    from daftrl.envs import TASKS

    return next(name for name, task in sorted(TASKS.items()) if task.robot == robot)


@pytest.mark.parametrize("robot", sorted(RECOMMENDED_BETA))
def test_default_config_gives_par_its_beta_per_robot(robot):
    spec = method_spec("par")
    assert spec.default_config(_task_of(robot)).beta == RECOMMENDED_BETA[robot]
    assert spec.default_config(_task_of(robot)) == dataclasses.replace(spec.config_cls(), beta=RECOMMENDED_BETA[robot])


def test_default_config_without_per_task_defaults_is_the_class_default():
    task = _task_of("hopper")
    assert method_spec("par").default_config(None) == method_spec("par").default_config("not-a-task")
    assert method_spec("vgdf").default_config(task).terminal == "hopper"
    for spec in method_specs():
        assert spec.default_config() == spec.config_cls()
        if spec.robot_defaults is None:
            assert spec.default_config(task) == spec.config_cls()


def _imported_modules(tree: ast.AST) -> list[tuple[str, bool]]:
    """(module, at module level?) of every import in a parsed file."""
    found = []

    def visit(node, top):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend((a.name, top) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                found.extend((f"{base}.{a.name}" if base else a.name, top) for a in child.names)
            visit(child, top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, True)
    return found


ENV_MODULES = re.compile(r"^daftrl\.envs(\.|$)")


@pytest.mark.parametrize("path", sorted(ALGOS.glob("*.py")), ids=lambda p: p.name)
def test_method_files_do_not_import_the_environments(path):
    """Loss files import nothing from daftrl.envs; only the registry looks a task's robot up,
    inside a function, so importing daftrl.algos does not import the environments."""
    imports = _imported_modules(ast.parse(path.read_text()))
    env_imports = [(m, top) for m, top in imports if ENV_MODULES.match(m)]
    if path.name == "__init__.py":
        assert env_imports and not any(top for _, top in env_imports), env_imports
    else:
        assert env_imports == [], env_imports


def test_the_docs_list_exactly_the_registered_methods():
    adaptation = (ROOT / "docs" / "adaptation.md").read_text()
    rows = re.findall(r"^\| `([\w-]+)` \| `algos/(\w+)\.py` \|", adaptation, re.M)
    assert sorted(name for name, _ in rows) == sorted(method_names("adapt"))
    for name, module in rows:
        assert method_spec(name).method_cls.__module__ == f"daftrl.algos.{module}", name

    cotraining = (ROOT / "docs" / "cotraining.md").read_text()
    methods = cotraining[cotraining.index("\n## Methods\n"):]
    methods = methods[:methods.index("\n## ", 1)]
    headings = re.findall(r"^### ([\w-]+) \(`algos/(\w+)\.py`", methods, re.M)
    assert sorted(title.lower() for title, _ in headings) == sorted(method_names("cotrain"))
    for title, module in headings:
        assert method_spec(title.lower()).method_cls.__module__ == f"daftrl.algos.{module}", title
