"""Fixtures of tests/test_fit_callbacks.c: what Keras 3.15.1's fit does with
callbacks and class weights on a small GRU model, so `rnnc train` can be
compared with it on the same data, initial weights and settings.

Run with the Keras environment:
    /work/kenv/bin/python tests/gen_fit_callbacks_fixtures.py
It writes tests/fixtures/fit_callbacks/:
    data.h5             x, y (regression), x_val, y_val, c (class ids), cx
    reg.json, cls.json  the models (Keras's to_json)
    reg_init.weights.h5, cls_init.weights.h5   initial weights
    expected.json       per scenario: the History, the stopping epoch, the
                        learning rates, the files ModelCheckpoint wrote (name
                        -> weights), the CSVLogger file, final weights
Shuffling is off so both programs see the same batches.
"""
import json
import os
import shutil
import tempfile

import h5py
import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
import keras  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "fit_callbacks")
T, F, N, NV = 5, 3, 48, 16


def weights_list(model):
    return [w.tolist() for w in model.get_weights()]


def make_data():
    rng = np.random.default_rng(12)
    xa = rng.normal(size=(N + NV, T, F)).astype("float32")
    ya = (xa[:, :, 0].sum(axis=1, keepdims=True) * 0.5 + 0.1 * rng.normal(size=(N + NV, 1))).astype("float32")
    x, y, xv, yv = xa[:N], ya[:N], xa[N:], ya[N:]
    c = np.argmax(x.mean(axis=1) + 0.3 * rng.normal(size=(N, F)), axis=1).astype("int32")
    return x, y, xv, yv, c


def reg_model():
    keras.utils.set_random_seed(3)
    m = keras.Sequential([keras.Input((T, F)), keras.layers.GRU(4, name="gru"), keras.layers.Dense(1, name="dense")],
                         name="reg")
    return m


def cls_model():
    keras.utils.set_random_seed(5)
    m = keras.Sequential([keras.Input((T, F)), keras.layers.GRU(4, name="gru"),
                          keras.layers.Dense(3, activation="softmax", name="dense")], name="cls")
    return m


def fit_run(make, init, compile_args, fit_args, tmp):
    m = make()
    m.load_weights(init)
    m.compile(**compile_args)
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        h = m.fit(shuffle=False, verbose=0, **fit_args)
    finally:
        os.chdir(cwd)
    return m, h


def main():
    os.makedirs(OUT, exist_ok=True)
    x, y, xv, yv, c = make_data()
    with h5py.File(os.path.join(OUT, "data.h5"), "w") as f:
        f["x"], f["y"], f["x_val"], f["y_val"], f["c"] = x, y, xv, yv, c
    reg, cls = reg_model(), cls_model()
    for m, name in ((reg, "reg"), (cls, "cls")):
        with open(os.path.join(OUT, name + ".json"), "w") as f:
            f.write(m.to_json())
        m.save_weights(os.path.join(OUT, name + "_init.weights.h5"))
    reg_init = os.path.join(OUT, "reg_init.weights.h5")
    cls_init = os.path.join(OUT, "cls_init.weights.h5")
    expected = {}

    # 1. EarlyStopping (restore_best_weights) + ModelCheckpoint (best only,
    #    formatted names) + CSVLogger.
    tmp = tempfile.mkdtemp()
    cbs = [
        keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=0.008, patience=1, restore_best_weights=True),
        keras.callbacks.ModelCheckpoint("ck-{epoch:02d}-{val_loss:.3f}.weights.h5", monitor="val_loss",
                                        save_best_only=True, save_weights_only=True),
        keras.callbacks.CSVLogger("log.csv"),
    ]
    m, h = fit_run(reg_model, reg_init, dict(optimizer=keras.optimizers.Adam(0.01), loss="mse"),
                   dict(x=x, y=y, validation_data=(xv, yv), batch_size=16, epochs=40, callbacks=cbs), tmp)
    files = {}
    for name in sorted(os.listdir(tmp)):
        if name.endswith(".weights.h5"):
            mm = reg_model()
            mm.load_weights(os.path.join(tmp, name))
            files[name] = weights_list(mm)
    with open(os.path.join(tmp, "log.csv"), newline="") as f:
        csv_text = f.read()
    expected["early"] = {"history": h.history, "epochs_run": len(h.history["loss"]),
                         "stopped_epoch": cbs[0].stopped_epoch, "best_epoch": cbs[0].best_epoch,
                         "weights": weights_list(m), "checkpoints": files, "csv": csv_text}
    shutil.rmtree(tmp)

    # 2. ReduceLROnPlateau on the training loss.
    tmp = tempfile.mkdtemp()
    cbs = [keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=0.05, cooldown=1,
                                             min_lr=0.001)]
    m, h = fit_run(reg_model, reg_init, dict(optimizer=keras.optimizers.SGD(0.05), loss="mse"),
                   dict(x=x, y=y, batch_size=16, epochs=12, callbacks=cbs), tmp)
    expected["plateau"] = {"history": h.history, "weights": weights_list(m)}
    shutil.rmtree(tmp)

    # 2b. LearningRateScheduler with a schedule object: Keras 3.15 refuses the
    #     object itself (its value is a tensor, not a float), so the function
    #     float(schedule(epoch)) stands for what rnnc does with it.
    tmp = tempfile.mkdtemp()
    sched = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5, staircase=True)
    cbs = [keras.callbacks.LearningRateScheduler(lambda epoch: float(sched(epoch)))]
    m, h = fit_run(reg_model, reg_init, dict(optimizer=keras.optimizers.SGD(0.05), loss="mse"),
                   dict(x=x, y=y, batch_size=16, epochs=5, callbacks=cbs), tmp)
    expected["scheduler"] = {"history": h.history, "weights": weights_list(m)}
    shutil.rmtree(tmp)

    # 3. class_weight on a classifier, and the same run without it.
    for key, cw in (("class_weight", {0: 1.0, 1: 3.0, 2: 0.25}), ("no_class_weight", None)):
        tmp = tempfile.mkdtemp()
        m, h = fit_run(cls_model, cls_init,
                       dict(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                            metrics=["accuracy"]),
                       dict(x=x, y=c, batch_size=16, epochs=3, class_weight=cw), tmp)
        expected[key] = {"history": h.history, "weights": weights_list(m)}
        shutil.rmtree(tmp)

    # 4. ModelCheckpoint every 2 batches (save_freq=2), names with {epoch} and {batch}.
    tmp = tempfile.mkdtemp()
    cbs = [keras.callbacks.ModelCheckpoint("b{epoch:02d}-{batch}.weights.h5", save_weights_only=True, save_freq=2)]
    m, h = fit_run(reg_model, reg_init, dict(optimizer=keras.optimizers.SGD(0.05), loss="mse"),
                   dict(x=x, y=y, batch_size=16, epochs=2, callbacks=cbs), tmp)
    files = {}
    for name in sorted(os.listdir(tmp)):
        mm = reg_model()
        mm.load_weights(os.path.join(tmp, name))
        files[name] = weights_list(mm)
    expected["save_freq"] = {"checkpoints": files}
    shutil.rmtree(tmp)

    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=None, separators=(",", ":"))
    e = expected["early"]
    print("early: epochs", e["epochs_run"], "stopped", e["stopped_epoch"], "best", e["best_epoch"],
          "files", list(e["checkpoints"]))
    print("val_loss", ["%.5f" % v for v in e["history"]["val_loss"]])
    print("plateau lr", expected["plateau"]["history"].get("learning_rate"))
    print("plateau loss", ["%.5f" % v for v in expected["plateau"]["history"]["loss"]])
    print("scheduler lr", expected["scheduler"]["history"].get("learning_rate"))
    print("save_freq files", list(expected["save_freq"]["checkpoints"]))
    print(e["csv"][:300])


if __name__ == "__main__":
    main()
