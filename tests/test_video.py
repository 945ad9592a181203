"""Videos: `daftrl eval --video` films a bundled expert in a task's source and target domains side by side, without
changing the evaluation; `daftrl demo --video` films the expert before and after adaptation."""

import json

import numpy as np
import pytest

from daftrl.cli import main

# reading a video back starts ffmpeg (fork + exec) in a process where JAX runs threads
pytestmark = pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")


@pytest.fixture(scope="module")
def gl():
    from daftrl.envs.render import check_headless_gl

    try:
        return check_headless_gl()
    except ValueError as e:  # no EGL or OSMesa here: the message says what to install
        pytest.skip(str(e))


def _frames_and_size(path):
    import imageio.v2 as imageio
    import imageio_ffmpeg

    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    with imageio.get_reader(path) as reader:
        return frames, list(reader.get_meta_data()["size"]), reader.get_meta_data()["fps"]


def test_eval_films_a_bundled_expert_in_source_and_target(gl, tmp_path, capsys):
    out = tmp_path / "videos"
    assert main(["eval", "hopper", "--task", "hopper-big-head", "--video", str(out), "--episodes", "1",
                 "--video-seconds", "0.5"]) == 0
    res = json.loads(capsys.readouterr().out)
    video = res["video"]
    assert video["path"] == str(out / "hopper_hopper-big-head.mp4")
    # Hopper steps at 125 Hz: every 4th step is a frame (31.25 fps), 0.5 s of it
    assert video["fps"] == 31.25 and video["frames"] == round(0.5 * 31.25)
    frames, size, fps = _frames_and_size(video["path"])
    assert (frames, size, fps) == (video["frames"], video["size"], 31.25)
    assert size[0] % 16 == 0 and size[1] % 16 == 0 and size[0] > 2 * 320  # two labelled 320 x 240 panels
    assert set(video["returns"]) == {"source", "target"}
    assert video["returns"]["source"] == res["returns"][0]  # eval ran in the source domain: the same episode
    assert video["lengths"]["target"] < 1000  # the big head falls (the whole episode ran, beyond the 0.5 s filmed)
    assert not list(out.glob(".*"))  # no partial file left


def test_recording_does_not_change_the_evaluation(gl, tmp_path):
    from daftrl.eval_command import evaluate_checkpoint

    kwargs = dict(task="hopper-big-head", domain="target", episodes=2, seed=3)
    plain = evaluate_checkpoint("hopper", **kwargs)
    filmed = evaluate_checkpoint("hopper", **kwargs, video=str(tmp_path), video_seconds=0.1)
    assert filmed["returns"] == plain["returns"]
    # the filmed target episode is the first evaluation episode, to the last bit (same start, same batch shape)
    assert filmed["video"]["returns"]["target"] == plain["returns"][0]
    assert filmed["video"]["reset_seed"] == 3 + 100


def test_a_robot_is_filmed_alone_and_a_foreign_env_is_refused(gl, tmp_path):
    from daftrl.envs.render import SideBySide
    from daftrl.evaluate import evaluate
    from daftrl.video import record_policy

    def still(obs):
        return np.zeros((len(obs), 6), np.float32)

    video = record_policy(still, "HalfCheetah-v5", "source", tmp_path, "still_", seconds=0.2, width=160, height=96)
    assert video["path"].endswith("still_halfcheetah_source.mp4") and video["fps"] == 20
    assert video["frames"] == 4 and list(video["returns"]) == ["source"]
    height, width, _ = SideBySide(["source"], 160, 96, "HalfCheetah-v5").shape
    assert video["size"] == [width + -width % 16, height + -height % 16]
    from daftrl.envs import make_env

    assert video["returns"]["source"] == evaluate(still, lambda: make_env("halfcheetah-no-thighs"), 1).returns[0]
    with pytest.raises(ValueError, match="films daftrl robots and tasks"):
        record_policy(still, "Pendulum-v1", "source", tmp_path)


def test_eval_video_without_gl_fails_first_with_one_line(tmp_path, monkeypatch, capsys):
    import ctypes.util

    monkeypatch.delenv("MUJOCO_GL", raising=False)
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    assert main(["eval", "hopper", "--video", str(tmp_path / "v"), "--episodes", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("daftrl eval: error: rendering needs a headless OpenGL") and err.count("\n") == 1
    assert "make render-deps" in err and not (tmp_path / "v").exists()


def test_eval_refuses_an_env_it_cannot_film_before_evaluating(tmp_path, monkeypatch, capsys):
    import daftrl.evaluate

    def evaluate(*args, **kwargs):
        raise AssertionError("evaluated before refusing the video")

    monkeypatch.setattr(daftrl.evaluate, "evaluate", evaluate)
    assert main(["eval", "hopper", "--task", "daftrl/hopper-big-head-v0", "--video", str(tmp_path)]) == 2
    assert "--video films daftrl robots and tasks" in capsys.readouterr().err


def test_mp4_writer_pads_frames_and_leaves_nothing_on_failure(tmp_path):
    from daftrl.video import Mp4Writer

    with Mp4Writer(tmp_path / "a.mp4", fps=10) as video:
        for i in range(3):
            video.append(np.full((21, 30, 3), 40 * i, np.uint8))
    assert video.size == (32, 32) and _frames_and_size(tmp_path / "a.mp4")[:2] == (3, [32, 32])
    with pytest.raises(RuntimeError), Mp4Writer(tmp_path / "b.mp4", fps=10) as video:
        video.append(np.zeros((16, 16, 3), np.uint8))
        raise RuntimeError("renderer died")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4"]
    with pytest.raises(OSError, match="disk full"), Mp4Writer(tmp_path / "c.mp4", fps=10) as video:
        video.append(np.zeros((16, 16, 3), np.uint8))
        real_close = video._writer.close

        def failing_close():  # ffmpeg cannot finish the file
            real_close()
            raise OSError("disk full")

        video._writer.close = failing_close
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4"]  # no c.mp4, no partial file


def test_demo_outcome_names_the_video():
    from daftrl.demo import VIDEO, DemoArgs, outcome

    res = {"status": "finished", "zero_shot": 1.0, "adapted": 2.0, "out": "runs/demo", "wall_time": 60.0}
    assert VIDEO not in outcome(res, DemoArgs())
    assert f"runs/demo/ (learning_curve.png, summary.md, {VIDEO})" in outcome({**res, "video": {}}, DemoArgs())


@pytest.mark.slow  # a short adaptation run (make test-slow)
def test_demo_films_zero_shot_and_adapted(gl, tmp_path):
    from daftrl.demo import VIDEO, DemoArgs, run_demo

    out = tmp_path / "demo"
    res = run_demo(DemoArgs(steps=300, eval_every=150, eval_episodes=1, out=str(out), video=True))
    assert res["video"]["path"] == str(out / VIDEO) and (out / VIDEO).stat().st_size > 10_000
    assert set(res["video"]["returns"]) == {"zero-shot expert", "daft, 300 target steps"}
    assert _frames_and_size(out / VIDEO)[0] == res["video"]["frames"] == 200  # HalfCheetah: 10 s at 20 fps
    assert f"[{VIDEO}]({VIDEO})" in (out / "summary.md").read_text()
