#!/bin/sh
# Makes the venv of `rnnc bench gru|lstm --peer torch2|compile|ort|all`:
# PyTorch 2 from PyPI (its x86 wheels use MKL), ONNX Runtime, and onnx (for
# torch.onnx.export(..., dynamo=False)). Default place /work/pvenv, the
# bench's default --python for those peers; another: bench/setup_peers.sh DIR
# (then give rnnc bench --python torch2=DIR/bin/python,compile=...,ort=...).
# The torch wheel pulls NVIDIA's CUDA packages (several GiB); they are not
# loaded on a CPU-only machine. The Keras peer uses its own venv
# (/work/kenv: keras 3.15.1, tensorflow 2.21); Debian's python3-torch
# (PyTorch 1.13) is the 'torch' peer.
set -eu
dir=${1:-/work/pvenv}
python3 -m venv "$dir"
"$dir/bin/pip" install --upgrade pip
"$dir/bin/pip" install torch onnxruntime onnx numpy
"$dir/bin/python" -c 'import torch, onnxruntime, onnx; print("torch", torch.__version__, "MKL", torch.backends.mkl.is_available(), "onnxruntime", onnxruntime.__version__, "onnx", onnx.__version__)'
