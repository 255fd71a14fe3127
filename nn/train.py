"""The training loop: AdamW, warmup, clipping, accumulation, early stopping, resumable epochs.

It trains a ``step`` module on batches that ``batches_for(epoch)`` gives, and knows nothing of
backbones or modes. By default the step gives per-token logits (B, T) scored by the masked BCE;
another ``objective`` (step output, batch) -> (mean loss, count) trains anything else, such as
llm_sft's next-token cross-entropy. Under ``torchrun`` the step is wrapped in DistributedDataParallel and each process takes every ``size``-th batch.

After each epoch the loss on the held-out proteins decides early stopping, and a checkpoint
(trainable weights, optimiser, schedule, best weights so far) is written atomically; a rerun
with the same checkpoint path resumes after the last finished epoch.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from idr_kit.data.atomic import atomic_write
from idr_kit.data.digests import checkpoint_tag
from idr_kit.data.errors import FileRefused
from idr_kit.data.progress import progress
from idr_kit.nn.config import LoopConfig
from idr_kit.nn.device import all_sum, autocast
from idr_kit.nn.head import masked_bce
from idr_kit.model.runtime import World

Objective = Callable[[object, dict], "tuple[torch.Tensor, torch.Tensor]"]  # out, batch -> mean, count


@dataclass
class History:
    epoch: int = -1  # last finished epoch
    steps: int = 0
    best_loss: float = math.inf
    best_epoch: int = -1
    train_loss: list = field(default_factory=list)
    valid_loss: list = field(default_factory=list)

    def to_json(self) -> dict:
        """JSON has no inf or nan: a loss never measured is written as null."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in vars(self).items()}

    @classmethod
    def from_json(cls, saved: dict) -> "History":
        """A saved history; what is not a field of one (or not a dict at all) is left out: a
        history is a record of training, and nothing is computed from it."""
        fields = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(saved, dict):
            return cls()
        return cls(**{k: v for k, v in saved.items() if k in fields and v is not None})


def checkpoint_file(directory: Path | None, config, proteins, name: str) -> Path | None:
    """Where a track's epochs are checkpointed: one file per (config, training data), so folds
    and reruns never pick up another's. None: no checkpoints."""
    if directory is None:
        return None
    return Path(directory) / f"{name}-{checkpoint_tag(dataclasses.asdict(config), [], proteins)}.pt"


def parameters_digest(module: nn.Module) -> str:
    """A digest of the weights that train: equal on every process when DDP kept them in step."""
    digest = hashlib.sha256()
    trained = {n: p for n, p in module.named_parameters() if p.requires_grad}
    for name, value in sorted(trained.items()):
        digest.update(name.encode())
        digest.update(value.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def trainable_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of the parameters that train, by name (on CPU)."""
    return {n: p.detach().cpu().clone() for n, p in module.named_parameters() if p.requires_grad}


def bce_objective(pos_weight: float = 1.0) -> Objective:
    """Masked BCE of logits (B, T) against the batch's labels where its mask is True."""
    weight = None if pos_weight == 1 else pos_weight

    def objective(logits: torch.Tensor, batch: dict):
        return masked_bce(logits, batch["labels"], batch["mask"], weight), batch["mask"].sum()
    return objective


def train(step: nn.Module, batches_for: Callable[[int], list], valid: list, s: LoopConfig, *,
          precision: str, device: torch.device, here: World, checkpoint: Path | None = None,
          objective: Objective | None = None, held_objective: Objective | None = None
          ) -> History:
    """Trains ``step`` in place with the loop settings of a track's config ``s`` and leaves it
    holding its best held-out weights. ``precision`` is the run's (runtime.Runtime).

    ``objective`` defaults to the masked BCE (weighted by ``s.pos_weight`` in training, never
    on the held-out loss that early stopping compares); ``held_objective``, the held-out loss,
    defaults to ``objective`` (a distilled network trains on soft targets too, and stops on
    its labels alone).
    """
    fit_loss = objective or bce_objective(s.pos_weight)
    held_loss = held_objective or objective or bce_objective()
    runner = _wrap(step, device, here)
    params = [p for p in step.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=s.lr, weight_decay=s.weight_decay)
    total = _total_steps(len(_my_share(batches_for(0), here)), s)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, _warmup_then_linear(total, s.warmup))
    history, best = _resume(checkpoint, step, optimiser, schedule)
    for epoch in range(history.epoch + 1, s.epochs):
        if s.max_steps and history.steps >= s.max_steps:
            break
        torch.manual_seed(s.seed * 1000 + epoch)  # dropout: a resumed epoch repeats exactly
        loss = _epoch(runner, _my_share(batches_for(epoch), here), optimiser, schedule, params,
                      s, precision, device, history, fit_loss)
        # Each process scores its share of the held-out batches through the bare module (DDP's
        # forward would sync buffers, and the shares may differ in length); all_sum pools them.
        _end_epoch(history, epoch, loss, evaluate(step, valid[here.rank::here.size], precision,
                                                  device, held_loss))
        if history.best_epoch == epoch or best is None:
            best = trainable_state(step)
        _save(checkpoint, here, step, optimiser, schedule, history, best)
        if epoch - history.best_epoch >= s.patience:
            break
    load_trainable(step, best)
    return history


def load_trainable(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Loads a ``trainable_state``: the other parameters stay as they are, no name may be unknown."""
    unexpected = module.load_state_dict(state, strict=False).unexpected_keys
    if unexpected:
        raise FileRefused(f"saved weights do not fit this model: unknown "
                          f"{', '.join(unexpected[:5])}")


def _wrap(step: nn.Module, device: torch.device, here: World) -> nn.Module:
    step.to(device)
    if here.size == 1:
        return step
    from torch.nn.parallel import DistributedDataParallel
    return DistributedDataParallel(step, device_ids=[device.index] if device.type == "cuda" else None)


def _my_share(batches: list, here: World) -> list:
    """Every process gets the same number of batches (DDP steps in lockstep)."""
    if here.size == 1:
        return batches
    batches = batches * here.size if len(batches) < here.size else batches
    usable = len(batches) - len(batches) % here.size
    return batches[here.rank:usable:here.size]


def _total_steps(n_batches: int, s: LoopConfig) -> int:
    total = s.epochs * math.ceil(n_batches / s.accumulate)
    return min(total, s.max_steps) if s.max_steps else total


def _warmup_then_linear(total: int, warmup: float) -> Callable[[int], float]:
    ramp = max(1, int(total * warmup))
    return lambda step: min((step + 1) / ramp, max(0.0, (total - step) / max(1, total - ramp)))


def _epoch(runner, batches, optimiser, schedule, params, s, precision, device, history,
           objective) -> float:
    runner.train()
    total, count = 0.0, 0
    bar = progress(batches, desc=f"training, epoch {history.epoch + 2}", unit="batch")
    for i, batch in enumerate(bar):
        last = (i + 1) % s.accumulate == 0 or i + 1 == len(batches)
        with _maybe_no_sync(runner, not last):
            loss = _loss(runner, batch, precision, device, objective)
            (loss / s.accumulate).backward()
        total, count = total + loss.item(), count + 1
        if last:
            _optimiser_step(optimiser, schedule, params, s.grad_clip)
            history.steps += 1
            if s.max_steps and history.steps >= s.max_steps:
                break
    return total / max(count, 1)


def _maybe_no_sync(runner, skip_sync: bool):
    return runner.no_sync() if skip_sync and hasattr(runner, "no_sync") else contextlib.nullcontext()


def _loss(runner, batch: dict, precision: str, device, objective: Objective) -> torch.Tensor:
    batch = {k: v.to(device) for k, v in batch.items()}
    with autocast(device, precision):
        out = runner(batch)  # the step's output: logits (B, T) for the default objective
    return objective(out, batch)[0]


def _optimiser_step(optimiser, schedule, params, grad_clip: float) -> None:
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
    optimiser.step()
    schedule.step()
    optimiser.zero_grad(set_to_none=True)


@torch.no_grad()
def evaluate(step, batches: list, precision: str, device, objective: Objective | None = None
             ) -> float:
    """Mean loss (unweighted BCE by default) over the held-out batches, pooled over every process."""
    objective = objective or bce_objective()
    step.eval()
    total, residues = 0.0, 0.0
    for batch in batches:
        batch = {k: v.to(device) for k, v in batch.items()}
        with autocast(device, precision):
            out = step(batch)
        loss, count = objective(out, batch)
        total += float(loss) * float(count)
        residues += float(count)
    total, residues = all_sum([total, residues], device)
    return total / residues if residues else math.nan


def _end_epoch(history: History, epoch: int, train_loss: float, valid_loss: float) -> None:
    history.epoch = epoch
    history.train_loss.append(round(train_loss, 5))
    history.valid_loss.append(round(valid_loss, 5))
    # No held-out residues (valid_fraction 0): every epoch counts as the best, so training runs on.
    if math.isnan(valid_loss) or valid_loss < history.best_loss:
        history.best_loss, history.best_epoch = valid_loss, epoch


def _save(path, here, step, optimiser, schedule, history, best) -> None:
    if path is None or not here.main:
        return
    state = {"model": trainable_state(step), "optimiser": optimiser.state_dict(),
             "schedule": schedule.state_dict(), "history": vars(history), "best": best}
    with atomic_write(path, "wb") as handle:
        torch.save(state, handle)


def load_weights(path: Path) -> dict:
    """A file of tensors written by torch.save, read with torch's safe loader; a file it
    refuses (code in a pickle, a damaged or foreign file) is one clear error naming it."""
    try:
        with warnings.catch_warnings():  # torch warns about the protocol before it refuses
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        why = next((line for line in lines if "Unsupported global" in line),
                   lines[0] if lines else type(err).__name__)
        raise FileRefused(f"{path}: not a file of saved weights that can be loaded safely "
                         f"({why})") from None


def load_into(module: nn.Module, path: Path, *, everything: bool) -> None:
    """Saved weights into ``module``: all of its state (``everything``) or the parameters that
    train. The file is checked before it is read (no larger than twice what it should hold)
    and its tensors before they are loaded (every name there, of the shape the module has),
    so a damaged file or another model's is one line naming it."""
    expected = ({n: t.shape for n, t in module.state_dict().items()} if everything else
                {n: p.shape for n, p in module.named_parameters() if p.requires_grad})
    room = 2 * sum(t.numel() * t.element_size() for t in module.state_dict().values()) + (1 << 20)
    if Path(path).stat().st_size > room:
        raise FileRefused(f"{path}: {Path(path).stat().st_size:,} bytes, more than the model "
                          "its settings describe can hold; damaged or from another model")
    state = load_weights(path)
    if not isinstance(state, dict) or not all(isinstance(t, torch.Tensor) for t in state.values()):
        raise FileRefused(f"{path}: not a file of named tensors")
    missing = sorted(set(expected) - set(state))
    wrong = sorted(n for n in set(expected) & set(state) if state[n].shape != expected[n])
    extra = sorted(set(state) - set(module.state_dict()))
    if missing or wrong or extra:
        what = (f"lacks {missing[0]}" if missing else f"has {extra[0]}, which this model lacks"
                if extra else f"holds {wrong[0]} of shape {tuple(state[wrong[0]].shape)}, not "
                f"{tuple(expected[wrong[0]])}")
        raise FileRefused(f"{path}: does not fit the model its settings describe: it {what}")
    module.load_state_dict(state, strict=everything)


def _resume(path, step, optimiser, schedule) -> tuple[History, dict | None]:
    if path is None or not Path(path).is_file():
        return History(), None
    state = load_weights(path)
    load_trainable(step, state["model"])
    optimiser.load_state_dict(state["optimiser"])
    schedule.load_state_dict(state["schedule"])
    print(f"resuming from {path} after epoch {state['history']['epoch'] + 1}")
    return History(**state["history"]), state["best"]
