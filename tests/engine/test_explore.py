"""What the dashboard draws: masks, histograms, colours, hover labels and upload previews."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine import explore
from engine.errors import UserError

DATA = Path(__file__).parents[1] / "data"


def _frame():
    return pd.DataFrame({"doc_id": list("abcde"), "snippet": ["<b>one</b>", "two", "three", "four", "five"],
                         "askllm": [0.1, 0.9, np.nan, 0.5, 0.7], "density": [1.0, 2.0, 3.0, 4.0, 5.0],
                         "decision": [None, "accept", None, "reject", None], "x": 0.0, "y": 0.0})


def test_mask_histograms_and_colours():
    f = _frame()
    mask = explore.selected_mask(f, ["d", "b", "zz"])
    assert mask.tolist() == [False, True, False, True, False]
    hists = explore.histograms(f, mask, bins=4)
    assert set(hists) == {"askllm", "density"}
    assert hists["askllm"]["all"].sum() == 4 and hists["askllm"]["selected"].sum() == 2  # NaN left out
    assert hists["density"]["selected"].sum() == 2 and hists["density"]["all"].sum() == 5
    values, continuous = explore.colour_values(f, mask, "review status")
    assert not continuous and values.tolist() == ["unreviewed", "accept", "unreviewed", "reject", "unreviewed"]
    assert explore.colour_values(f, mask, "askllm")[1]
    hover = explore.hover_text(f)
    assert hover[0].startswith("&lt;b>one") and "askllm: 0.100" in hover[0] and "askllm: -" in hover[2]


def test_preview_finds_the_text_column():
    table, text_like = explore.preview(DATA / "ingest_broken.jsonl", n=3)
    assert len(table) == 3 and text_like[0] == "text"  # broken rows are passed over
    table, text_like = explore.preview(DATA / "ingest_lines.txt")
    assert text_like == ["text"]
    with pytest.raises(UserError):
        explore.preview(DATA / "nope.xyz")
