"""The one training loop (irnet_hub.fitting): config checks, schedules, best epoch, patience, ensembles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from irnet_hub.errors import InvalidInputError
from irnet_hub.fitting import TrainConfig, fit
from tolerance import assert_f32_close

BULK = "crabnet/benchmark_data/mp_bulk_modulus"


@pytest.fixture(scope="module")
def xy(data_dir):
    from irnet_hub.featurize.composition import featurize_compositions

    df = pd.read_csv(data_dir / BULK / "train.csv").head(400)
    X = featurize_compositions(list(df["formula"]), errors="raise").features
    y = df["target"].to_numpy(float)
    return X[:300], y[:300], X[300:], y[300:]


@pytest.mark.parametrize("bad,named", [
    (dict(members=0), "members"), (dict(epochs=1.5), "epochs"), (dict(batch_size=-1), "batch_size"),
    (dict(patience=0), "patience"), (dict(learning_rate=0), "learning_rate"), (dict(schedule="step"), "schedule"),
    (dict(transform="sqrt"), "transform"), (dict(architecture="12QQx3-1"), "12QQx3"),
])  # fmt: skip
def test_config_refuses_bad_settings_by_name(bad, named):
    with pytest.raises(InvalidInputError, match=named):
        TrainConfig(**bad).check()


def test_schedules():
    const = TrainConfig(learning_rate=1e-3)
    assert {const.learning_rate_at(e) for e in range(50)} == {1e-3}
    cos = TrainConfig(learning_rate=1e-3, schedule="cosine", warmup_epochs=2, epochs=10)
    lrs = [cos.learning_rate_at(e) for e in range(11)]
    assert lrs[0] < lrs[1] < lrs[2] == pytest.approx(1e-3) and lrs[10] == pytest.approx(0.0)
    assert cos.learning_rate_at(5, total=5) == pytest.approx(0.0)  # a deadline-shortened schedule ends at 0


def test_single_network_keeps_its_best_epoch_and_stops_on_patience(xy, tmp_path):
    Xtr, ytr, Xva, yva = xy
    # A learning rate this high makes the validation MAE jump around, so the last epoch is rarely the best.
    cfg = TrainConfig(architecture="64BARx2-1", epochs=200, batch_size=32, learning_rate=5e-2, patience=4)
    res = fit(Xtr, ytr, Xva, yva, cfg, log_path=tmp_path / "log.csv")
    assert res.model.output_shape == (None, 1)
    assert res.epochs_run < 200 and res.epochs_run - res.best_epoch == 4  # stopped 4 epochs after its best
    log = pd.read_csv(tmp_path / "log.csv")
    assert list(log.epoch) == list(range(res.epochs_run)) and set(log.lr) == {5e-2}
    # The returned weights are the best epoch's: their validation MAE is the log's minimum.
    from irnet_hub.preprocessing import feature_fill_mean, fill_missing

    pred = res.model.predict(fill_missing(Xva, feature_fill_mean(Xtr)), verbose=0)[:, 0]
    assert_f32_close(np.mean(np.abs(pred - yva)), log["val_mae"].min())
    assert log["val_mae"].idxmin() == res.best_epoch - 1


def test_ensemble_with_log_target_and_cosine_schedule(xy):
    Xtr, ytr, Xva, yva = xy
    cfg = TrainConfig(architecture="32BARx2-1", members=3, transform="log", epochs=6, batch_size=64,
                      learning_rate=3e-3, schedule="cosine", warmup_epochs=1, patience=None)  # fmt: skip
    res = fit(Xtr, ytr, Xva, yva, cfg)
    assert res.epochs_run == 6 and res.history["lr"].iloc[-1] < res.history["lr"].max()
    from irnet_hub.preprocessing import feature_fill_mean, fill_missing

    out = res.model.predict(fill_missing(Xva[:5], feature_fill_mean(Xtr)), verbose=0)
    assert out.shape == (5, 4) and (out > 0).all()  # mean + 3 members, positive through exp
    assert_f32_close(out[:, 0], out[:, 1:].mean(axis=1))


def test_the_train_step_is_traced_once(xy, monkeypatch):
    """fit() builds the optimizer before Keras' fit: otherwise TensorFlow traces the train step twice
    (the first trace creates the optimizer's variables), which doubled the first epoch of every run
    (benchmarks/RESULTS_fit_startup.md)."""
    import keras

    X, y, Xv, yv = xy
    traces = []
    real = keras.Model.train_step
    monkeypatch.setattr(keras.Model, "train_step", lambda self, data: traces.append(1) or real(self, data))
    fit(X, y, Xv, yv, TrainConfig(architecture="16BAx2-1", members=2, epochs=2, batch_size=64, patience=None))
    assert len(traces) == 1


def test_a_resumed_run_keeps_a_best_epoch_from_before_the_cut(xy, tmp_path):
    """The best epoch so far lives in the checkpoint folder: a run killed after its best epoch and
    resumed returns that epoch's weights, even when every epoch after the cut is worse."""
    import keras

    from irnet_hub.preprocessing import feature_fill_mean, fill_missing

    Xtr, ytr, Xva, yva = xy
    cfg = TrainConfig(architecture="32BARx2-1", epochs=6, batch_size=64, learning_rate=3e-3, patience=None)
    ckpt, log = tmp_path / "ckpt", tmp_path / "log.csv"

    class Kill(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    class Spoil(keras.callbacks.Callback):  # every epoch after the cut starts from ruined weights
        def on_epoch_begin(self, epoch, logs=None):
            self.model.set_weights([w + 50.0 for w in self.model.get_weights()])

    with pytest.raises(KeyboardInterrupt):
        fit(Xtr, ytr, Xva, yva, cfg, checkpoint_dir=ckpt, log_path=log, callbacks=[Kill()], backup_every_s=0)
    before = pd.read_csv(log)["val_mae"]
    assert len(before) == 3 and (ckpt / "best_epoch.npz").is_file()
    res = fit(Xtr, ytr, Xva, yva, cfg, checkpoint_dir=ckpt, log_path=log, callbacks=[Spoil()], backup_every_s=0)
    after = pd.read_csv(log)["val_mae"]
    assert len(after) == 6 and after.iloc[3:].min() > before.min()  # the spoiled epochs are all worse
    assert res.best_epoch == before.idxmin() + 1
    pred = res.model.predict(fill_missing(Xva, feature_fill_mean(Xtr)), verbose=0)[:, 0]
    assert_f32_close(np.mean(np.abs(pred - yva)), before.min())
    assert not ckpt.exists()  # a finished run leaves no resume state


def test_backups_wait_for_their_interval_and_a_resume_drops_the_epochs_after_the_last(xy, tmp_path):
    """An epoch is backed up once backup_every_s has passed since the last backup (a backup every epoch
    was most of the time of a small run). A run cut off after an epoch that was not backed up resumes
    from the last backup, and its log keeps each epoch once."""
    import time

    import keras

    Xtr, ytr, Xva, yva = xy
    cfg = TrainConfig(architecture="32BARx2-1", epochs=6, batch_size=64, patience=None)
    ckpt, log = tmp_path / "ckpt", tmp_path / "log.csv"

    class SlowThenKill(keras.callbacks.Callback):  # runs after the backup callback at each epoch's end
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                time.sleep(3.0)  # so epoch 1 is due for a backup; epoch 2 (a tiny network, < 1 s) is not
            if epoch == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(Xtr, ytr, Xva, yva, cfg, checkpoint_dir=ckpt, log_path=log, callbacks=[SlowThenKill()],
            backup_every_s=2.5)
    assert list(pd.read_csv(log)["epoch"]) == [0, 1, 2]
    res = fit(Xtr, ytr, Xva, yva, cfg, checkpoint_dir=ckpt, log_path=log, backup_every_s=2.5)
    assert res.epochs_run == 4  # epochs 2..5: the backup was of epoch 1
    assert list(pd.read_csv(log)["epoch"]) == [0, 1, 2, 3, 4, 5]
    assert not ckpt.exists()
