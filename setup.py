"""Builds the C++ extension mlpresets.native._native; all metadata lives in pyproject.toml.

MLPRESETS_NATIVE_SANITIZE=address builds it with AddressSanitizer (see `make native-asan`).
"""

import os

import pybind11
from pybind11.setup_helpers import Pybind11Extension
from setuptools import setup

SANITIZE = os.environ.get("MLPRESETS_NATIVE_SANITIZE", "")

compile_args = [
    "-O3",
    "-Wall",
    "-Wextra",
    "-Wshadow",
    # pybind11's headers as system headers (GCC drops the -I for a directory given both ways),
    # so the warnings above are about our code only.
    f"-isystem{pybind11.get_include()}",
    # No fused multiply-add contraction: nms must round exactly as torchvision's kernel does.
    "-ffp-contract=off",
]
link_args: list[str] = []
if SANITIZE:
    # -O1 for readable reports; GCC then misreads pybind11's dispatcher as uninitialised.
    compile_args += [f"-fsanitize={SANITIZE}", "-fno-omit-frame-pointer", "-g", "-O1"]
    compile_args += ["-Wno-maybe-uninitialized"]
    link_args += [f"-fsanitize={SANITIZE}"]

setup(
    ext_modules=[
        Pybind11Extension(
            "mlpresets.native._native",
            ["native/src/bindings.cpp"],
            include_dirs=["native/src"],
            depends=[os.path.join("native/src", f) for f in os.listdir("native/src")],
            cxx_std=17,
            extra_compile_args=compile_args,
            extra_link_args=link_args,
        )
    ],
)
