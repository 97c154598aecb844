"""A damaged model source is one line naming the file, in every program.

A truncated `.keras` file given as --model to train, evaluate, predict and
export, and a preset without its weights to predict and export: each ends
with one `error:` line that names the file, exit status 1 and no traceback.
"""

import concurrent.futures
import os

import pytest

from tests import cli_helpers
from tests.scripts import helpers


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    from nonlocal_tf.clip_spec import ClipSpec
    from nonlocal_tf.models import VideoClassifier

    root = tmp_path_factory.mktemp("damaged")
    model = VideoClassifier(
        depth=50,
        width_per_group=2,
        num_classes=3,
        clip_spec=ClipSpec(
            num_frames=4,
            crop_size=32,
            jitter_scales=(32, 40),
            test_crop_size=32,
        ),
    )
    whole = root / "whole.keras"
    model.save(str(whole))
    truncated = root / "truncated.keras"
    truncated.write_bytes(whole.read_bytes()[:2000])
    preset = root / "preset"
    model.save_to_preset(str(preset))
    os.remove(preset / "model.weights.h5")
    records = root / "records-00000-of-00001"
    records.write_bytes(b"")
    video = helpers.colour_video(root / "v.mp4", 0, seed=0)
    return (
        root,
        {
            "truncated": (str(truncated), "truncated.keras"),
            "no weights": (str(preset), "model.weights.h5"),
        },
        str(records),
        str(video),
    )


def _flags(program, root, records, video, kind):
    return {
        "train.py": [
            f"--train_records={records}",
            "--num_classes=3",
            f"--model_dir={root / 'run'}",
        ],
        "evaluate.py": [
            f"--test_records={records}",
            "--num_classes=3",
            f"--output_dir={root / 'eval'}",
        ],
        "predict.py": [f"--video={video}"],
        # One name per case: a second export into one name is refused.
        "export.py": [f"--export_dir={root / 'export'}", f"--name=m_{kind}"],
    }[program]


@pytest.mark.slow
def test_every_program_names_the_damaged_file(sources):
    root, cases, records, video = sources
    runs = {
        (program, kind): (
            program,
            f"--model={path}",
            *_flags(program, root, records, video, kind),
        )
        for program in ("train.py", "evaluate.py", "predict.py", "export.py")
        for kind, (path, _) in cases.items()
        # One program that builds and one that exports read each preset.
        if kind == "truncated" or program in ("predict.py", "export.py")
    }
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        done = {
            key: pool.submit(cli_helpers.run_program, *args)
            for key, args in runs.items()
        }
    for (program, kind), future in done.items():
        path, fragment = cases[kind]
        line = cli_helpers.assert_user_error(future.result(), fragment)
        assert os.path.basename(path) in line, (program, kind, line)
