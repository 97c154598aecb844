"""MODEL_ZOO.md is generated from the registry and kept up to date."""

import pytest

from nonlocal_tf.zoo import model_zoo_table

pytestmark = pytest.mark.slow


def test_model_zoo_md_is_up_to_date(repo_root):
    text = model_zoo_table.render_markdown()
    current = (repo_root / "MODEL_ZOO.md").read_text()
    assert current == text, (
        "MODEL_ZOO.md is out of date: run `python scripts/make_model_zoo.py`"
    )
    # Spot checks against independent figures (PySlowFast, reference.md §7).
    row = next(
        line
        for line in text.splitlines()
        if line.startswith("| `i3d_nl5_r50_8x8_pyslowfast` |")
    )
    assert "| 35.40 | 36.54 |" in row and "74.0 / 91.1" in row
    assert "`I3D_NLN_8x8_R50`" in row
