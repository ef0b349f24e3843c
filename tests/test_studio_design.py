"""The Design page's editing logic, without a browser: node keys of validator errors, edits that drop a
blank key, adding, removing and moving nodes, and the flagged node in the drawn chain."""

import pytest

pytest.importorskip("gradio", reason="the studio extra is not installed")

from sonogram.service import catalogue  # noqa: E402
from sonogram.service.designs import describe_design  # noqa: E402
from sonogram.studio import design_page as page  # noqa: E402

pytestmark = pytest.mark.slow  # importing Gradio takes several seconds


@pytest.mark.parametrize("key, node", [("frontend.2.n_fft", "frontend.2"), ("frontend.0", "frontend.0"),
                                       ("model.nhead", "model"), ("num_samples", "input"), ("design", "design")])
def test_error_keys_land_on_their_node(key, node):
    assert page.node_key(key) == node


def test_an_edit_changes_the_count_and_an_impossible_value_is_flagged_on_its_node():
    design = catalogue.preset(catalogue.NET_DESIGNER)
    before = describe_design(design).params
    keys = catalogue.frontend_keys("spectrogram")
    values = [page.show(design["frontend"][1].get(k)) for k in keys]
    values[keys.index("n_fft")] = "256"
    edited, chain, totals, text, _ = page.edited(design, "frontend.1", keys, *values)
    assert edited["frontend"][1]["n_fft"] == 256 and "n_fft: 256" in text
    assert f"{describe_design(edited).params:,} parameters" in totals and describe_design(edited).params != before
    values[keys.index("n_fft")] = "100000"
    values[keys.index("center")] = ""
    bad, chain, totals, _, _ = page.edited(design, "frontend.1", keys, *values)
    assert "center" not in bad["frontend"][1]
    assert "class='sg-node sg-bad sg-chosen' data-node='frontend.1'" in chain
    assert chain.count("sg-node sg-bad") == 1
    assert "⚠" in totals


def test_nodes_are_added_after_the_chosen_one_removed_and_moved():
    design = catalogue.preset(catalogue.NET_DESIGNER)
    grown, chosen = page.added(design, "frontend.1", "spec_augment")
    assert chosen == "frontend.2" and grown["frontend"][2] == {"name": "spec_augment"}
    assert len(design["frontend"]) == 4  # the original is untouched
    moved, chosen, _ = page.moved(grown, "frontend.2", 1)
    assert chosen == "frontend.3" and moved["frontend"][3]["name"] == "spec_augment"
    smaller, chosen, message = page.removed(moved, "frontend.3")
    assert [e["name"] for e in smaller["frontend"]] == [e["name"] for e in design["frontend"]]
    assert page.removed(design, "model")[2].startswith("**⚠")
