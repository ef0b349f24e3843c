"""The service modules the studio stands on: design parts and presets, a clip through a front-end or a
run, a feature projection, and a board of trainings where two starts never share a run folder."""

import numpy as np
import pytest
import soundfile

from sonogram.errors import AudioError, ConfigError, DatasetError, RunError
from sonogram.recipe import recipe_from_dict
from sonogram.service import catalogue, clips
from sonogram.service.designs import describe_design
from sonogram.service.jobs import JobBoard
from sonogram.service.training import train


def test_every_preset_describes_and_its_yaml_reads_back(tmp_path):
    assert catalogue.NET_DESIGNER in catalogue.presets()
    design = catalogue.preset(catalogue.NET_DESIGNER)
    path = tmp_path / "design.yaml"
    path.write_text(catalogue.design_yaml(design))
    assert catalogue.read_design(path) == design
    assert describe_design(path).params == describe_design(design).params > 0
    with pytest.raises(ConfigError, match="no bundled design 'nope'"):
        catalogue.preset("nope")


def test_new_nodes_carry_what_their_layer_cannot_do_without():
    assert catalogue.new_frontend("decimate") == {"name": "decimate", "rate": 2}
    assert "n_fft" in catalogue.frontend_keys("spectrogram")
    assert catalogue.frontend_defaults("spectrogram")["n_fft"] == 400
    model = catalogue.new_model("fftconv")
    assert model["name"] == "fftconv" and model["conv_size"] == 4
    design = {**catalogue.preset("cnn_logmel"), "model": catalogue.new_model("transformer")}
    assert describe_design(design).valid
    with pytest.raises(ConfigError, match="unknown front-end 'fourier'"):
        catalogue.new_frontend("fourier")


def test_a_clip_through_a_front_end_has_the_design_feature_shape(corpus_root):
    design = catalogue.preset("cnn_logmel")
    path = sorted((corpus_root / "fsdd" / "recordings").glob("3_*.wav"))[0]
    view = clips.view_clip(path, design)
    assert view.waveform.shape == (design["num_samples"],)
    assert list(view.features.shape) == describe_design(design).feature_shape


def test_class_clips_and_projection_follow_the_classes(corpus_root):
    rows = clips.class_clips("fsdd", data_root=corpus_root, label="4", limit=5)
    assert len(rows) == 5 and {r["label"] for r in rows} == {"4"}
    with pytest.raises(DatasetError, match="no class 'x'"):
        clips.class_clips("fsdd", data_root=corpus_root, label="x")
    found = clips.project("fsdd", catalogue.preset("cnn_logmel"), data_root=corpus_root, per_class=3)
    assert found.points.shape == (30, 2) and sorted(set(found.labels)) == [str(d) for d in range(10)]
    assert 0 < found.explained[1] <= found.explained[0] < 1


@pytest.mark.slow
def test_try_file_answers_with_features_and_frames_and_refuses_bad_audio(make_tiny_recipe, corpus_root, tmp_path):
    run = train(recipe_from_dict(make_tiny_recipe()), tmp_path / "run", report=False).run_dir
    path = sorted((corpus_root / "fsdd" / "recordings").glob("7_*.wav"))[0]
    result = clips.try_file(run, path, hop_seconds=0.1)
    assert result.prediction.label == "7"
    assert result.frames.shape == (len(result.times), 10)
    assert np.allclose(result.frames.sum(axis=1), 1, atol=1e-4)
    assert result.features.shape[0] == 1
    text = tmp_path / "text.wav"
    text.write_text("not audio")
    with pytest.raises(AudioError):
        clips.try_file(run, text)
    long = tmp_path / "long.wav"
    soundfile.write(long, np.zeros(8000 * 61, np.float32), 8000)
    with pytest.raises(AudioError, match="over the 60 s limit"):
        clips.try_file(run, long)


@pytest.mark.slow
def test_two_trainings_started_together_get_their_own_folders(make_tiny_recipe, tmp_path, training_gates):
    epoch_end, evaluation = training_gates
    evaluation.open()
    board = JobBoard()
    recipe = recipe_from_dict(make_tiny_recipe())
    first, second = board.start(recipe, tmp_path), board.start(recipe, tmp_path)
    assert first.run_dir != second.run_dir
    epoch_end.wait_until_held()  # the first is training (the second waits its turn)
    with pytest.raises(RunError, match="is training now"):
        board.resume(first.run_dir)
    epoch_end.open()
    assert first.wait(120) == second.wait(120) == "finished"
    for job in (first, second):
        assert (job.run_dir / "metrics.json").is_file()
    with pytest.raises(RunError, match="has already finished; there is nothing to stop"):
        board.stop(first.run_dir)
    with pytest.raises(RunError, match="not training in this studio"):
        board.stop(tmp_path / "elsewhere")
