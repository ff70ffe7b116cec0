"""Training loops: ``fit`` for any network, ``train`` for the whole C++ trainer, checkpoints.

``fit`` runs mini-batch steps (forward, loss, backward, optimizer update: one C++ call per step,
with the GIL released), prints progress every ``log_every`` steps and after each epoch, and
returns the history of the run.
"""

import sys
import time

from . import _cudanet
from .data import DataLoader
from .nn import CrossEntropyLoss
from .optim import SGD

# train_step(model, loss, optimizer, images, labels) -> (loss, correct): one step of training.
train_step = _cudanet.train_step
save_checkpoint = _cudanet.save_checkpoint
load_checkpoint = _cudanet.load_checkpoint


def evaluate(model, data, batch_size=256, device="cpu"):
    """(mean loss, accuracy) of ``model`` in evaluation mode over a Dataset or DataLoader."""
    loader = data if isinstance(data, DataLoader) else DataLoader(
        data, batch_size=batch_size, shuffle=False, device=device)
    loss, accuracy, _ = _cudanet.evaluate(model, loader)
    return loss, accuracy


def fit(model, train_data, *, epochs=1, batch_size=64, optimizer=None, lr=0.02, momentum=0.9,
        weight_decay=0.0, loss=None, device="cpu", validation_data=None, seed=0, log_every=100,
        max_steps=None, out=sys.stdout, callback=None):
    """Trains ``model`` on ``train_data`` (a Dataset) and returns the history:
    ``{"step": [...], "loss": [...], "epoch": [{"epoch", "train_loss", "train_accuracy",
    "val_loss", "val_accuracy", "seconds"}, ...]}``, one ``loss`` entry per step.

    The optimizer defaults to SGD(lr, momentum, weight_decay), the loss to cross-entropy. The
    model is moved to ``device``. ``max_steps`` ends training early; ``callback(step, loss)``
    runs after every step and may return True to stop."""
    model.to(device)
    optimizer = optimizer or SGD(model, lr=lr, momentum=momentum, weight_decay=weight_decay)
    loss = loss or CrossEntropyLoss()
    loader = DataLoader(train_data, batch_size=batch_size, shuffle=True, seed=seed, device=device)
    history = {"step": [], "loss": [], "epoch": []}
    step = 0
    stop = False
    for epoch in range(epochs):
        start = time.perf_counter()
        total, correct, seen = 0.0, 0, 0
        for images, labels in loader:
            value, right = _cudanet.train_step(model, loss, optimizer, images, labels)
            step += 1
            n = labels.shape[0]
            total += value * n
            correct += right
            seen += n
            history["step"].append(step)
            history["loss"].append(value)
            if out is not None and log_every and step % log_every == 0:
                print(f"epoch {epoch + 1}/{epochs} step {step}: loss {value:.4f}", file=out,
                      flush=True)
            if (callback is not None and callback(step, value)) or step == max_steps:
                stop = True
                break
        record = {"epoch": epoch + 1, "train_loss": total / max(seen, 1),
                  "train_accuracy": correct / max(seen, 1)}
        if validation_data is not None:
            record["val_loss"], record["val_accuracy"] = evaluate(model, validation_data,
                                                                  device=device)
        record["seconds"] = time.perf_counter() - start
        history["epoch"].append(record)
        if out is not None:
            line = (f"epoch {epoch + 1}/{epochs}: train loss {record['train_loss']:.4f}, "
                    f"accuracy {record['train_accuracy']:.4f}")
            if "val_loss" in record:
                line += (f"; validation loss {record['val_loss']:.4f}, "
                         f"accuracy {record['val_accuracy']:.4f}")
            print(line + f" ({record['seconds']:.1f} s)", file=out, flush=True)
        if stop:
            break
    return history


def train(**config):
    """The whole trainer, as ``cudanet train`` runs it (model by name, data, optimizer, schedule,
    checkpoints, metrics): keywords are the command's options with underscores, e.g.
    ``train(model="lenet5", epochs=2, train_limit=4096, device="cpu")``. Returns the results."""
    return _cudanet.run_training(**config)


__all__ = ["fit", "evaluate", "train", "train_step", "save_checkpoint", "load_checkpoint"]
