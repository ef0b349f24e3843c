"""The studio end to end in headless Chromium (Debian's ``chromium``, driven by playwright): each page is
used as a person would, a screenshot of it is saved to ``docs/images/studio-<page>.png``, and the time a
design edit, a training start and a Try prediction take is printed."""

import re
import shutil
import time
from pathlib import Path

import pytest
import yaml

from sonogram.service.designs import describe_design

pytest.importorskip("gradio", reason="the studio extra is not installed")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (dev extra) is not installed")
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
if BROWSER is None:
    pytest.skip("no chromium found: apt-get install chromium to run the studio's browser tests",
                allow_module_level=True)

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
SHOTS = REPO / "docs" / "images"
WAIT_MS = 120_000


@pytest.fixture(scope="module")
def runs(tmp_path_factory, make_tiny_recipe) -> Path:
    """A runs folder holding a finished tiny run (``tiny``, and a copy of it) for Inspect and Try."""
    from sonogram.recipe import recipe_from_dict
    from sonogram.service.training import train

    folder = tmp_path_factory.mktemp("runs")
    train(recipe_from_dict(make_tiny_recipe()), folder / "tiny")
    shutil.copytree(folder / "tiny", folder / "tiny-copy")  # a second run to compare with
    return folder


@pytest.fixture(scope="module")
def studio(runs, corpus_root):
    """The studio served on a free local port (Gradio starts its server on the first port it can bind, so no
    other process can take the port between a check and the start): its URL."""
    from sonogram.studio.app import build_app, serve

    app = build_app(runs, corpus_root)
    serve(app, runs, corpus_root, block=False)
    yield app.local_url.rstrip("/")
    app.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=BROWSER, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, studio):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(WAIT_MS)
    page.goto(studio)
    page.get_by_text("sonogram studio").first.wait_for()
    yield page
    page.close()


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def choose(page, elem_id: str, option: str) -> None:
    """Pick ``option`` in the Gradio dropdown ``elem_id``."""
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option).first.click()


def type_into(field, text: str) -> None:
    """Replace a field's text by typing it (Gradio's input event follows keystrokes, not a programmatic fill)."""
    field.fill("")
    field.press_sequentially(text)


def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(500)  # let plots finish drawing
    page.screenshot(path=str(SHOTS / f"studio-{name}.png"), full_page=True)


def test_design_edit_updates_parameters_and_flags_an_invalid_value(page):
    open_tab(page, "Design")
    totals = page.locator("#design-totals")
    totals.get_by_text("parameters").wait_for()
    before = totals.inner_text()
    page.get_by_text("1 · spectrogram").click()
    fft_size = page.get_by_label("FFT size (n_fft)")
    fft_size.wait_for()
    started = time.perf_counter()
    type_into(fft_size, "256")
    page.wait_for_function("b => !document.querySelector('#design-totals').innerText.includes(b)", arg=before)
    seconds = time.perf_counter() - started
    print(f"\nstudio timing: design edit (FFT size 128 -> 256) to new parameter count: {seconds:.2f} s")
    assert "parameters" in totals.inner_text() and totals.inner_text() != before

    type_into(fft_size, "100000")
    flagged = page.locator(".sg-node.sg-bad[data-node='frontend.1']")
    flagged.wait_for()
    assert "n_fft" in flagged.inner_text()

    type_into(fft_size, "128")
    page.locator(".sg-node.sg-bad").wait_for(state="detached")
    nodes = page.locator(".sg-node").count()
    page.locator("#design-add").click()
    page.wait_for_function(f"() => document.querySelectorAll('.sg-node').length === {nodes + 1}")
    fft_size_after = page.get_by_label("FFT size (n_fft)")
    assert fft_size_after.count() == 0  # the new node's form replaced the spectrogram's
    page.get_by_text("1 · spectrogram").click()
    type_into(fft_size, "100000")
    flagged.wait_for()
    shoot(page, "design")

    page.locator("#design-save").click()
    page.wait_for_function("() => /design\\s*\\.yaml/.test(document.querySelector('#design-saved').innerText)")
    preset = REPO / "recipes" / "designs" / "cnn_logmel.yaml"
    page.locator("#design-upload input[type=file]").set_input_files(str(preset))
    totals.get_by_text(f"{describe_design(preset).params:,} parameters").wait_for()
    assert page.locator(".sg-node.sg-bad").count() == 0


def test_train_starts_stops_and_resumes_a_run_whose_graph_grows(page, tmp_path, make_tiny_recipe, training_gates):
    epoch_end, evaluation = training_gates  # the training waits for the test at each epoch's end
    epochs = 15
    recipe = tmp_path / "grow.yaml"
    data = make_tiny_recipe()
    data["name"], data["train"]["epochs"] = "grow", epochs
    recipe.write_text(yaml.safe_dump(data))
    open_tab(page, "Train")
    box = page.locator("#train-recipe input")
    type_into(box, str(recipe))
    box.press("Enter")
    started = time.perf_counter()
    page.locator("#train-start").click()
    status, message = page.locator("#train-status"), page.locator("#train-message")
    status.get_by_text(f"grow: training · epoch 1 of {epochs}").wait_for()  # held at the end of epoch 1
    print(f"\nstudio timing: training start (click to first epoch on the graph): {time.perf_counter() - started:.2f} s")
    page.locator("#train-stop").click()
    message.get_by_text("stopping after the current epoch").wait_for()
    status.get_by_text("grow: stopping after this epoch").wait_for()
    epoch_end.allow()  # epoch 1 ends and reads the stop
    status.get_by_text(f"grow: resumable · epoch 1 of {epochs}").wait_for()

    page.locator("#train-resume").click()
    status.get_by_text(f"grow: training · epoch 2 of {epochs}").wait_for()  # the graph grows epoch by epoch
    page.locator("#train-graph img").wait_for()
    epoch_end.allow()
    status.get_by_text(f"grow: training · epoch 3 of {epochs}").wait_for()
    epoch_end.open()
    evaluation.wait_until_held()  # training is over (all epochs, or early stopping): a Stop now is too late
    status.get_by_text("grow: finishing evaluation").wait_for()
    page.locator("#train-stop").click()
    message.get_by_text("too late to stop").wait_for()
    evaluation.open()
    status.get_by_text("grow: finished").wait_for()
    assert re.search(rf"grow: finished · epoch \d+ of {epochs}", status.inner_text())
    shoot(page, "train")


def test_inspect_shows_matrices_flows_and_frames_of_two_runs(page, runs, corpus_root):
    open_tab(page, "Inspect")
    choose(page, "inspect-run", str(runs / "tiny"))
    page.locator("#inspect-show").click()
    page.locator("#inspect-summary").get_by_text("test accuracy").wait_for()
    page.locator("#inspect-matrices img").wait_for()
    page.locator("#inspect-flows .js-plotly-plot").wait_for()
    choose(page, "inspect-second", str(runs / "tiny-copy"))
    page.locator("#inspect-show").click()
    page.locator("#inspect-summary").get_by_text("tiny-copy").wait_for()
    clip = sorted((corpus_root / "fsdd" / "recordings").glob("3_*.wav"))[0]
    page.locator("#inspect-audio input[type=file]").set_input_files(str(clip))
    page.locator("#inspect-frames-go").click()
    page.locator("#inspect-frames img").wait_for()
    shoot(page, "inspect")


def test_try_predicts_an_uploaded_wav_and_refuses_a_non_audio_file(page, runs, corpus_root, tmp_path):
    from sonogram.service.prediction import predict_files

    clip = sorted((corpus_root / "fsdd" / "recordings").glob("7_*.wav"))[0]
    expected = next(predict_files(runs / "tiny", [clip])).label
    open_tab(page, "Try")
    choose(page, "try-run", str(runs / "tiny"))

    bad = tmp_path / "notes.wav"
    bad.write_text("not audio at all")
    page.locator("#try-audio input[type=file]").set_input_files(str(bad))
    page.locator("#try-audio a[download][href*='notes.wav']").wait_for(state="attached")  # the upload is in
    page.locator("#try-predict").click()
    page.locator("#try-message").get_by_text("not a readable audio file").wait_for()
    assert page.locator("#try-message").inner_text().startswith("⚠")
    assert "Traceback" not in page.content()

    page.reload()
    page.get_by_text("sonogram studio").first.wait_for()
    open_tab(page, "Try")
    choose(page, "try-run", str(runs / "tiny"))
    page.locator("#try-audio input[type=file]").set_input_files(str(clip))
    page.locator("#try-audio audio, #try-audio .waveform-container, #try-audio button[aria-label*=lay]").first.wait_for(
        state="attached")
    started = time.perf_counter()
    page.locator("#try-predict").click()
    page.locator("#try-message").get_by_text("predicted").wait_for()
    print(f"\nstudio timing: Try prediction (click to label shown): {time.perf_counter() - started:.2f} s")
    assert f"predicted {expected}" in page.locator("#try-message").inner_text()
    assert expected in page.locator("#try-label").inner_text()
    shoot(page, "try")


def test_data_describes_splits_plays_a_clip_projects_features_and_names_a_missing_folder(page):
    open_tab(page, "Data")
    page.locator("#data-survey").get_by_text("fsdd").first.wait_for()
    page.locator("#data-describe").click()
    page.locator("#data-overview").get_by_text("300 clips").wait_for()
    assert "official" in page.locator("#data-splits").inner_text()
    page.locator("#data-features img").wait_for()
    page.locator("#data-project").click()
    page.locator("#data-scatter .js-plotly-plot").wait_for()
    shoot(page, "data")

    page.locator("#data-folder textarea, #data-folder input").first.fill("/no/such/folder")
    page.locator("#data-describe").click()
    page.locator("#data-message").get_by_text("not found").wait_for()
    assert "Traceback" not in page.content()
