"""Reads the event files of rnnc's TensorBoard callback with TensorBoard's own
reader (EventAccumulator), as tests/test_tensorboard.c's hand decoder does in
CI: the tags, steps and values it finds must be what rnnc's history holds.

    /work/kenv/bin/pip install tensorboard
    /work/kenv/bin/python tests/check_tensorboard_events.py build-F/rnnc
"""
import csv
import os
import subprocess
import sys
import tempfile

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

FX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "fit_callbacks")


def main():
    rnnc = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp()
    with open(os.path.join(tmp, "tb.yaml"), "w") as f:
        f.write(f"model: {FX}/reg.json\ncompile: {{optimizer: adam, loss: mse, metrics: [mae]}}\n"
                f"fit:\n  epochs: 3\n  batch_size: 16\n  shuffle: false\n  verbose: 0\n  history: hist\n"
                f"  validation_data: {{path: {FX}/data.h5, x: x_val, y: y_val}}\n"
                f"  callbacks:\n    - TensorBoard: {{log_dir: logs, histogram_freq: 1, update_freq: batch}}\n"
                f"data: {{path: {FX}/data.h5, x: x, y: y}}\n")
    subprocess.run([rnnc, "train", "tb.yaml"], cwd=tmp, check=True)
    with open(os.path.join(tmp, "hist", "history.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    acc = {}
    for sub in ("train", "validation"):
        ea = EventAccumulator(os.path.join(tmp, "logs", sub), size_guidance={"scalars": 0, "histograms": 0, "tensors": 0})
        ea.Reload()
        acc[sub] = ea
        print(sub, ea.Tags()["scalars"], ea.Tags()["histograms"], ea.Tags()["tensors"])
    for e, row in enumerate(rows):
        for key, value in row.items():
            if key == "epoch":
                continue
            sub, tag = ("validation", "epoch_" + key[4:]) if key.startswith("val_") else ("train", "epoch_" + key)
            got = [s.value for s in acc[sub].Scalars(tag) if s.step == e]
            assert got and abs(got[0] - float(value)) <= 1e-6 * max(1.0, abs(float(value))), (sub, tag, e, got, value)
    assert len(acc["train"].Scalars("batch_loss")) == 9
    assert len(acc["train"].Histograms("gru/gru_cell/kernel/histogram")) == 3
    assert acc["train"].Histograms("gru/gru_cell/kernel/histogram")[0].histogram_value.num == 36
    assert "keras" in acc["train"].Tags()["tensors"]
    print("EventAccumulator reads rnnc's event files: scalars match the history, 9 batch scalars, 3 histograms per weight")


if __name__ == "__main__":
    main()
