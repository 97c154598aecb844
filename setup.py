"""Installs `nonlocal_tf` and its model zoo (`zoo/` -> `nonlocal_tf.zoo`)."""

import pathlib

import setuptools

HERE = pathlib.Path(__file__).parent


def _version():
    for line in (HERE / "nonlocal_tf" / "version.py").read_text().splitlines():
        if line.startswith("__version__"):
            return line.split("=")[1].strip().strip('"')
    raise RuntimeError("nonlocal_tf/version.py has no __version__")


# The command-line programs (nonlocal_tf/programs/<name>.py, each with a
# `run`); scripts/<name>.py runs the same from a checkout. make_model_zoo is
# left out: it rewrites a checkout's MODEL_ZOO.md, which a wheel has not; so
# is benchmark_nonlocal, run from a checkout as the other benchmarks.
PROGRAMS = {
    "train": "train",
    "evaluate": "evaluate",
    "predict": "predict",
    "export": "export",
    "visualize": "visualize_nonlocal",
    "convert-weights": "convert_weights",
    "serving-client": "serving_client",
    "check-records": "check_records",
    "demo": "demo",
    "prepare-data": "prepare_data",
    "data-service": "data_service",
}


def _packages():
    core = setuptools.find_packages(include=["nonlocal_tf", "nonlocal_tf.*"])
    zoo = ["nonlocal_tf.zoo"] + [
        "nonlocal_tf.zoo." + name
        for name in setuptools.find_packages(where="zoo")
    ]
    return core + zoo


setuptools.setup(
    name="nonlocal-tf",
    version=_version(),
    description=(
        "Non-local Neural Networks (Wang et al., CVPR 2018) for Keras 3 / "
        "TensorFlow: layers, C2D/I3D video model zoo, data, training, serving."
    ),
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.11",  # keras-hub 0.32 needs 3.11
    packages=_packages(),
    package_dir={"nonlocal_tf.zoo": "zoo"},
    package_data={"nonlocal_tf.zoo": ["*.json", "data/*.json", "data/*.txt"]},
    include_package_data=True,
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "keras>=3.15,<4",
        # The model family's base classes and preset format (0.32 is the
        # tested release; it needs tensorflow-text, whose release follows
        # TensorFlow's).
        "keras-hub>=0.32,<0.33",
        "tensorflow-text>=2.21,<2.22",
        "absl-py>=1.4",
        "numpy>=1.26",
        "h5py>=3.8",
        "tqdm>=4.60",
    ],
    extras_require={
        "video": ["av>=12"],
        "serving": ["tensorflow-serving-api>=2.16,<2.22", "requests>=2.28"],
        "torch": ["torch>=2.1"],
        "jax": ["jax[cpu]>=0.4.30"],
        # Preparation on Apache Beam runners (2.77 resolves with TF 2.21).
        "beam": ["apache-beam>=2.60"],
        # Export runtimes (nonlocal_tf.export.formats / .runtimes), measured
        # with TF 2.21 and NumPy 2.4: tf2onnx 1.17 converts, onnxruntime
        # runs; OpenVINO converts TF functions itself; LiteRT models are
        # converted by TensorFlow's own tf.lite and run by ai-edge-litert.
        "onnx": ["onnx>=1.17", "onnxruntime>=1.20", "tf2onnx>=1.17"],
        "openvino": ["openvino>=2025.0"],
        "litert": ["ai-edge-litert>=2.0"],
        "dev": [
            "pytest>=8",
            "pytest-xdist>=3.5",
            "ruff>=0.6",
            "pillow>=10",
            "setuptools>=70",
            "wheel>=0.40",
            "scikit-video>=1.1.11",
            "hypothesis>=6.100",
        ],
    },
    entry_points={
        "console_scripts": [
            f"nonlocal-{command} = nonlocal_tf.programs.{name}:run"
            for command, name in PROGRAMS.items()
        ]
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
