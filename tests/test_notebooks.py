"""Execute every walkthrough notebook top to bottom on the sample data (papermill)."""

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def _code_cells(path: Path) -> list[dict]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_thin_and_clean(path: Path) -> None:
    cells = _code_cells(path)
    assert cells, "notebook has no code"
    assert "parameters" in cells[0].get("metadata", {}).get("tags", []), (
        "the first code cell must be tagged 'parameters' for papermill"
    )
    for cell in cells:
        assert not cell.get("outputs"), "commit notebooks without outputs"
        assert cell.get("execution_count") is None
        for line in "".join(cell["source"]).splitlines():
            assert not line.lstrip().startswith(("def ", "class ")), (
                "notebooks hold library calls and narrative only"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path: Path, tmp_path: Path) -> None:
    papermill = pytest.importorskip("papermill")
    params = {"OUT_DIR": str(tmp_path / "out")}
    declared = "".join(_code_cells(path)[0]["source"])
    papermill.execute_notebook(
        str(path),
        str(tmp_path / path.name),
        parameters={k: v for k, v in params.items() if k in declared},
        kernel_name="python3",
        cwd=str(path.parent),
        progress_bar=False,
    )
