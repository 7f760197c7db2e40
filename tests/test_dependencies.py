"""Dependencies point one way: accounts ← images ← links, and ``common`` (with the
app-agnostic ``delivery``) imports no app. Read from the source with ``ast``, every import
counted, also those inside functions: a lazy import is still a dependency."""

import ast
from pathlib import Path

PIXTIER = Path(__file__).resolve().parents[1] / "pixtier"

# Each part may import its own modules and those of the parts listed for it.
MAY_IMPORT = {
    "common": set(),
    "delivery": {"common"},
    "accounts": {"common", "delivery"},
    "images": {"common", "delivery", "accounts"},
    "links": {"common", "delivery", "accounts", "images"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PIXTIER.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    module_name(path): path
    for path in sorted(PIXTIER.rglob("*.py"))
    if "migrations" not in path.parts
}


def imported_modules(name: str, path: Path) -> set[str]:
    """The pixtier modules ``name`` imports (``from package import module`` names the
    module; ``from module import thing`` the module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in MODULES else base)
    return {module for module in found if module in MODULES}


GRAPH = {name: imported_modules(name, path) for name, path in MODULES.items()}


def part_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_the_graph_is_read_from_the_source() -> None:
    """The reader finds the imports this test exists for (else it could pass on nothing)."""
    assert "pixtier.images.models" in GRAPH["pixtier.links.models"]
    assert {"pixtier.common.freshness", "pixtier.accounts.models"} <= GRAPH[
        "pixtier.accounts.selectors"
    ]
    assert set(MAY_IMPORT) == {part_of(module) for module in MODULES} - {None}


def test_dependencies_point_one_way() -> None:
    wrong = [
        f"{MODULES[module].relative_to(PIXTIER.parent)} imports {imported}"
        for module, imports in GRAPH.items()
        for imported in sorted(imports)
        if (part := part_of(module)) is not None
        and (other := part_of(imported)) not in (None, part)
        and other not in MAY_IMPORT[part]
    ]
    assert wrong == []


def test_no_modules_import_each_other() -> None:
    """No cycles, not even through a lazy import: one of the two does the other's job."""

    def reaches(start: str, goal: str) -> list[str] | None:
        path, seen, todo = {start: [start]}, {start}, [start]
        while todo:
            current = todo.pop()
            for following in GRAPH[current]:
                if following == goal:
                    return [*path[current], goal]
                if following not in seen:
                    seen.add(following)
                    path[following] = [*path[current], following]
                    todo.append(following)
        return None

    cycles = {
        " → ".join(cycle)
        for module in GRAPH
        if (cycle := reaches(module, module)) and min(cycle) == module
    }
    assert cycles == set()
