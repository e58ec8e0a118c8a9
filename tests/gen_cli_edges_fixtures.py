"""Keras 3.15.1 fixtures of tests/test_cli_edges.c (tests/fixtures/cli_edges/).

spe_initial_epoch.h5: a GRU(4) + Dense(1) regression trained by Keras's
model.fit with steps_per_epoch=2, initial_epoch=1, epochs=4, batch_size=8,
shuffle=False on 36 samples (5 batches, the last of 4): Keras's epoch
iterator starts a new pass over the data at initial_epoch, so epoch 2 runs
batches 0-1, epoch 3 batches 2-3 and epoch 4 batch 4 alone (the pass ends
there). Holds x (36, 5, 3), y (36, 1) and the history's per-epoch loss
('loss', (3,), float64); the initial weights are
spe_initial_epoch_init.weights.h5 (model.save_weights before fit).

Run: /work/kenv/bin/python tests/gen_cli_edges_fixtures.py
"""
import os

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import h5py
import keras
import numpy as np

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "cli_edges")
os.makedirs(HERE, exist_ok=True)
assert keras.__version__ == "3.15.1", keras.__version__

keras.utils.set_random_seed(11)
rs = np.random.RandomState(5)
x = rs.rand(36, 5, 3).astype("float32")
y = rs.rand(36, 1).astype("float32")
model = keras.Sequential([keras.Input((5, 3)), keras.layers.GRU(4, name="gru"), keras.layers.Dense(1, name="dense")],
                         name="spe")
model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
model.save_weights(os.path.join(HERE, "spe_initial_epoch_init.weights.h5"))
h = model.fit(x, y, batch_size=8, epochs=4, initial_epoch=1, steps_per_epoch=2, shuffle=False, verbose=0)
assert h.epoch == [1, 2, 3], h.epoch
with h5py.File(os.path.join(HERE, "spe_initial_epoch.h5"), "w") as f:
    f["x"] = x
    f["y"] = y
    f["loss"] = np.asarray(h.history["loss"], dtype="float64")
print("loss", h.history["loss"])
