"""An import-linter contract type for a top-level script module (``worker.py``).

import-linter's own contracts take packages; ``worker.py`` is a module beside them. This one
reads the module's every import (at the top and inside functions, as the worker imports lazily)
and follows each imported package through import-linter's own graph, so ``worker.py`` breaks
the contract if it, or anything it imports, reaches a forbidden package.
"""

from __future__ import annotations

import ast
from pathlib import Path

from grimp import ImportGraph
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every absolute import in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
    return found


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


class ScriptForbiddenContract(Contract):
    """``script`` (a .py file) must not import ``forbidden_modules``, directly or through the
    packages it imports."""

    script = fields.StringField()
    forbidden_modules = fields.ListField(subfield=fields.StringField())

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        problems = [problem for line, module in _imports(Path(str(self.script)))
                    for banned in self.forbidden_modules  # type: ignore[attr-defined]
                    if (problem := self._reaches(graph, line, module, banned))]
        return ContractCheck(kept=not problems, metadata={"problems": problems})

    def _reaches(self, graph: ImportGraph, line: int, module: str, banned: str) -> str:
        """Why importing ``module`` on ``line`` reaches ``banned`` ("" if it does not)."""
        where = f"{self.script}:{line} imports {module}"
        if _within(module, banned):
            return where
        targets = [m for m in graph.modules if _within(m, banned)]
        for start in (m for m in graph.modules if _within(m, module)):
            for target in targets:
                chain = graph.find_shortest_chain(importer=start, imported=target)
                if chain:
                    return f"{where}, and {' -> '.join(chain)}"
        return ""

    def render_broken_contract(self, check: ContractCheck) -> None:
        for problem in check.metadata["problems"]:
            output.print_error(problem, bold=False)
            output.new_line()
