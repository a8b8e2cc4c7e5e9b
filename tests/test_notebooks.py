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


def _all_text(path: Path) -> str:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return "\n".join("".join(c["source"]) for c in nb["cells"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_refers_only_to_notebooks_that_exist(path: Path) -> None:
    import re

    text = _all_text(path)
    stems = {p.stem for p in NOTEBOOKS}
    for name in re.findall(r"[\w-]+\.ipynb", text):
        assert name.removesuffix(".ipynb") in stems, f"{path.name} refers to {name}"
    # "see the churn notebook": a notebook named by its subject must exist too
    for word in re.findall(r"\bthe ([a-z_]+) notebook\b", text, flags=re.I):
        assert any(stem.startswith(word.lower()) for stem in stems), (
            f"{path.name} refers to 'the {word} notebook', which does not exist"
        )


def test_campaign_notebook_refuses_own_orders_with_sample_campaigns() -> None:
    """ORDERS_PATH without CAMPAIGNS_PATH stops at once, before any analysis."""
    path = next(p for p in NOTEBOOKS if p.stem == "campaign_lift")
    cells = _code_cells(path)
    namespace: dict = {}
    exec("".join(cells[0]["source"]), namespace)  # the parameters cell
    namespace["ORDERS_PATH"] = "my_orders.csv"  # a file that does not exist: never read
    with pytest.raises(Exception, match="CAMPAIGNS_PATH") as info:
        exec("".join(cells[1]["source"]), namespace)
    assert "orders" not in namespace and "campaigns" not in namespace
    assert "No such file" not in str(info.value)
