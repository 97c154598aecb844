r"""Sends a clip or a video to TF Serving and prints the top-5 labels.

Inputs: `--clip`, a .npy array of RGB values in [0, 255], shape (T, H, W, 3)
or (B, T, H, W, 3); or `--video`, a video file of which `--num_frames`
frames are taken evenly spaced (PyAV).

Signatures: `serving_default` gets the float clip, already at the model's
test crop size (it only normalises); `classify_frames` gets JPEG bytes (the
server decodes, resizes and crops, with the test pipeline's transform).
A video's frames are sent as they are, JPEG-encoded, to `classify_frames`
(the default for `--video`): this client never resizes or crops.

A bad address, a server that is not there, does not answer within
--timeout, closes the connection or answers something that is not a predict
answer ends with one `error: ...` line and exit status 1 (--verbosity=1 adds
the traceback).

Examples:

  python scripts/serving_client.py --video=clip.mp4 --model_name=nl \
      --server=localhost:8501 --signature=classify_frames

  python scripts/serving_client.py --clip=clip.npy --protocol=grpc \
      --server=localhost:8500 --model_name=nl
"""

import numpy as np
from absl import app
from absl import flags

from nonlocal_tf import cli
from nonlocal_tf.export import client

FLAGS = flags.FLAGS
flags.DEFINE_string("clip", None, "A .npy clip (T, H, W, 3) or batch.")
flags.DEFINE_string("video", None, "A video file.")
flags.DEFINE_enum("protocol", "rest", ["rest", "grpc"], "Transport.")
flags.DEFINE_string(
    "server",
    None,
    "host:port (or an http:// URL for REST). Default: localhost:8501 for "
    "REST, localhost:8500 for gRPC.",
)
flags.DEFINE_string("model_name", "model", "Served model name.")
flags.DEFINE_integer("model_version", None, "Version; default the latest.")
flags.DEFINE_enum(
    "signature",
    None,
    [client.VIDEO_SIGNATURE, client.FRAMES_SIGNATURE],
    f"Signature to call. Default: {client.VIDEO_SIGNATURE} for --clip, "
    f"{client.FRAMES_SIGNATURE} for --video (the only one it can use).",
)
flags.DEFINE_enum(
    "rest_format", "columnar", ["columnar", "row"], "REST request format."
)
flags.DEFINE_integer("num_frames", 8, "Frames taken from --video.")
flags.DEFINE_float("timeout", 60.0, "Request timeout in seconds.")


def _signature():
    if bool(FLAGS.clip) == bool(FLAGS.video):
        raise app.UsageError("Pass exactly one of --clip and --video.")
    if FLAGS.video and FLAGS.signature == client.VIDEO_SIGNATURE:
        raise app.UsageError(
            f"--video is sent to {client.FRAMES_SIGNATURE}, which resizes and "
            f"crops its frames in the served graph; {client.VIDEO_SIGNATURE} "
            "takes clips already at the model's test crop size (--clip)."
        )
    if FLAGS.signature:
        return FLAGS.signature
    return client.FRAMES_SIGNATURE if FLAGS.video else client.VIDEO_SIGNATURE


def _inputs(signature):
    if FLAGS.video:
        frames = client.read_video_clip(FLAGS.video, FLAGS.num_frames)
        jpegs = client.encode_jpeg(frames)
        return {"frames": client.prepare_frames_input(jpegs)}
    clips = client.prepare_video_input(client.load_clip(FLAGS.clip))
    if signature == client.VIDEO_SIGNATURE:
        return {"video": clips}
    clips = np.clip(np.round(clips), 0, 255).astype(np.uint8)
    jpegs = [client.encode_jpeg(clip) for clip in clips]
    return {"frames": client.prepare_frames_input(jpegs)}


def _predict(inputs, signature):
    """The outputs, and the URL or gRPC target that gave them."""
    if FLAGS.protocol == "rest":
        server = FLAGS.server or f"localhost:{client.DEFAULT_REST_PORT}"
        url = client.rest_predict_url(
            server, FLAGS.model_name, FLAGS.model_version
        )
        outputs = client.predict_rest(
            url,
            inputs,
            signature_name=signature,
            request_format=FLAGS.rest_format,
            timeout=FLAGS.timeout,
        )
        return outputs, url
    server = FLAGS.server or f"localhost:{client.DEFAULT_GRPC_PORT}"
    # gRPC requests are TensorFlow protos: TensorFlow loads here (only).
    cli.import_tensorflow()
    outputs = client.predict_grpc(
        server,
        FLAGS.model_name,
        inputs,
        signature_name=signature,
        version=FLAGS.model_version,
        timeout=FLAGS.timeout,
    )
    return outputs, server


def main(argv):
    del argv
    signature = _signature()
    outputs, where = _predict(_inputs(signature), signature)
    rows = client.top_k_rows(outputs, where)
    print(client.format_top_k([row[:5] for row in rows]))


def run():
    """The console command `nonlocal-serving-client`."""
    cli.run(main)
