"""The import direction of ``docs/architecture.md``, enforced: every import of every product module, including
those inside functions (the command line imports lazily), read from the source.

An equivalent of import-linter's ``forbidden`` contracts without the dependency: the rules are the table below.
"""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest

_LOG = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("protocol", "hardware", "kiosk", "collector", "provisioning", "borne")
OUTSIDE = ("tests", "bench", "dev", "devtools")

#: package -> top-level packages it must never import. protocol and hardware are at the bottom; nothing imports
#: upward (only ``borne``, the command line, sits on top); kiosk and collector never import each other.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "protocol": ("hardware", "kiosk", "collector", "provisioning", "borne", *OUTSIDE),
    "hardware": ("protocol", "kiosk", "collector", "provisioning", "borne", *OUTSIDE),
    "kiosk": ("collector", "provisioning", "borne", *OUTSIDE),
    "collector": ("kiosk", "provisioning", "borne", *OUTSIDE),
    "provisioning": ("borne", *OUTSIDE),
    "borne": OUTSIDE,
}

#: Product modules that may import ``devtools`` (development tooling, not shipped), and why. The commands only inside
#: their functions (lazily), so that the rest of ``borne`` works from an installed wheel.
DEVTOOLS_USERS = {
    "borne.cli.demo": "borne demo runs simulated kiosks and the demo's data",
    "borne.cli.sim": "borne sim runs a fleet of simulated kiosks",
}

#: The one module of each product package that sets up paho-mqtt (its client factory); no other package imports it.
PAHO_HOME = {"collector": "collector.broker.client", "kiosk": "kiosk.mqtt_client"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, absolute (relative imports resolved against its package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _product_modules() -> list[Path]:
    return sorted(p for top in PRODUCT for p in (ROOT / top).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_against_the_direction(package: str) -> None:
    wrong = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in _imports(path):
            top = name.split(".")[0]
            if top in FORBIDDEN[package] and not (top == "devtools" and _module_name(path) in DEVTOOLS_USERS):
                wrong.append(f"{_module_name(path)} imports {name}")
    assert not wrong, "\n".join(sorted(set(wrong)))


@pytest.mark.parametrize("module", sorted(m for m in DEVTOOLS_USERS if m.startswith("borne.cli.")))
def test_the_commands_import_devtools_lazily(module: str) -> None:
    """``borne demo`` and ``borne sim`` import devtools inside their functions only: ``borne`` loads without it."""
    path = ROOT / Path(*module.split(".")).with_suffix(".py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    names = {alias.name for node in top_level if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module or "" for node in top_level if isinstance(node, ast.ImportFrom)}
    assert not [n for n in names if n.split(".")[0] == "devtools"]
    assert any(n.split(".")[0] == "devtools" for n in _imports(path))


def test_devtools_is_not_shipped() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    include = next(line for line in text.splitlines() if line.startswith("include = ["))
    assert "devtools" not in include
    assert "borne*" in include


@pytest.mark.parametrize("package", PRODUCT)
def test_only_the_client_factory_imports_paho(package: str) -> None:
    wrong = [f"{_module_name(p)} imports {name}" for p in sorted((ROOT / package).rglob("*.py"))
             if _module_name(p) != PAHO_HOME.get(package) for name in _imports(p) if name.split(".")[0] == "paho"]
    assert not wrong, "\n".join(sorted(set(wrong)))


def test_the_rules_see_every_product_module() -> None:
    """A sanity check of the reader itself: it finds lazy imports (inside functions) too."""
    cli = _imports(ROOT / "borne" / "cli" / "__init__.py")
    assert "borne.cli.collector" in cli and "borne.cli.kiosk" in cli
    assert len(_product_modules()) > 100


def test_no_product_module_imports_click() -> None:
    """Typer carries its own click: ``click`` is no dependency of ours, and a kiosk's venv has none (found on the
    emulated Pi: every ``borne`` command failed there on ``import click``)."""
    wrong = [_module_name(path) for path in _product_modules()
             if any(name == "click" or name.startswith("click.") for name in _imports(path))]
    assert not wrong, wrong
