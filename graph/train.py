"""Training: BPR over the view's training pairs, validation-based early stopping, one test.

    result = train(store, TrainConfig(model="lightgcn"), dataset="ml-100k")

Every `eval_every` epochs the model is evaluated on the validation split (training items
excluded); training stops when `select_metric` has not improved for `patience` evaluations
(never before `min_epochs`: LightGCN's validation recall dips for a while after the first
epochs at lr 1e-3). The best epoch's parameters are restored, and only then is the test split
evaluated, once (training and validation items excluded).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.seed import seed_everything

from workbench import runs
from workbench.graph.evaluate import evaluate, per_user_metrics
from workbench.graph.losses import bpr_loss, bpr_loss_per_triple, l2_reg, prune_largest, score_pairs
from workbench.graph.alignment import MaskedProfileReconstruction, ProfileContrast, Profiles
from workbench.graph.models.registry import ModelSpec, model_spec
from workbench.graph.sampling import NegativeSampler
from workbench.errors import ConfigError, StoreError, validation_message
from workbench.store import Store
from workbench.graph.views import GraphData, ViewError, load_graph, load_profile_embeddings


class TrainConfig(BaseModel):
    """Hyper-parameters; defaults are the LightGCN paper's. Unknown keys are an error."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        "lightgcn", description="a registered model: `workbench train --help` lists them")
    embedding_dim: int = Field(64, description="embedding size")
    num_layers: int = Field(3, description="LightGCN propagation layers (ignored by mf/pop)")
    lr: float = Field(1e-3, description="Adam learning rate")
    reg: float = Field(1e-4, description="L2 weight on the batch's ego embeddings")
    batch_size: int = Field(2048, description="(user, pos, neg) triples per step")
    max_epochs: int = Field(300, description="upper bound on epochs")
    min_epochs: int = Field(50, description="never stop early before this many epochs")
    eval_every: int = Field(5, description="validate every N epochs")
    patience: int = Field(
        10, description="stop after this many evaluations without improvement")
    ks: tuple[int, ...] = Field((10, 20), description="cut-offs of every metric")
    select_metric: str = Field(
        "recall@20", description="validation metric for early stopping and selection")
    eval_batch_size: int = Field(1024, description=(
        "users scored at once in full ranking (on CPU at most as many as keep 4M scores, "
        "which stay in cache)"))
    epoch_write_s: float = Field(2.0, description=(
        "seconds between writes of the epoch rows (the first epoch at once; the store is not "
        "held in between); a killed run loses at most this much of its history"))
    seed: int = Field(2020, description="seeds torch, numpy and random")
    device: str = Field("cpu", description="cpu, cuda, cuda:N or auto (cuda when available)")
    # The training objective (BPR as in the LightGCN paper, or AlphaRec's sampled softmax):
    loss: Literal["bpr", "softmax"] = Field(
        "bpr", description="bpr: one negative per pair; softmax: InfoNCE over num_negatives "
                           "shared sampled negatives (AlphaRec)")
    num_negatives: int = Field(256, description="negatives per batch for loss=softmax")
    temperature: float = Field(0.15, description="softmax temperature (AlphaRec: 0.15)")
    score: Literal["dot", "cosine"] = Field(
        "dot", description="user-item score: inner product, or cosine (AlphaRec)")
    id_weight: float = Field(
        0.0, description="alpharec: weight of ID embeddings added to the mapped text (0: none)")
    # Views with synthetic (user, pos, neg) triples (LLMRec):
    aug_rate: float | None = Field(
        None, description="synthetic triples drawn per batch, as a fraction of batch_size "
                          "(unset: each drawn about once per epoch, like a real triple)")
    aug_weight: float = Field(
        1.0, description="weight of a synthetic triple relative to a real one in BPR")
    node_edge_weight: float = Field(
        1.0, description="weight of item-attribute/code edges in the adjacency, before "
                         "normalization (views with extra nodes)")
    prune_rate: float = Field(
        0.2, description="per batch, drop this fraction of them with the LARGEST loss")
    # RLMRec alignment with embedded user/item profiles (a weight of 0 turns a loss off):
    contrast_weight: float = Field(0.0, description="RLMRec-Con InfoNCE weight (paper: 1e-2)")
    contrast_temperature: float = Field(
        0.2, description="RLMRec-Con InfoNCE temperature (paper: 0.2 on Amazon/Yelp)")
    generative_weight: float = Field(
        0.0, description="RLMRec-Gen masked reconstruction weight (paper: 0.1)")
    generative_mask_ratio: float = Field(
        0.15, description="share of the batch's nodes masked (paper: 0.15)")
    generative_temperature: float = Field(
        0.5, description="RLMRec-Gen InfoNCE temperature (paper: 0.5)")
    # LLMRec features, used by views with features ("features", "llmrec-features"):
    feature_weight: float = Field(
        0.5, description="weight of the normalized encoded feature added to each node")
    mae_weight: float = Field(0.0, description="masked feature reconstruction weight (0 = off)")
    mae_mask_ratio: float = Field(
        0.15, description="share of the batch's nodes whose feature is masked")
    mae_gamma: float = Field(2.0, description="exponent of the scaled cosine error")

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        name, _, k = self.select_metric.partition("@")
        if name not in ("recall", "ndcg", "precision", "hit") or not k.isdigit() \
                or int(k) not in self.ks:
            raise ValueError(f"select_metric {self.select_metric!r} must be recall/ndcg/"
                             f"precision/hit @ one of ks={self.ks}")
        for setting in ("embedding_dim", "batch_size", "max_epochs", "eval_every", "patience"):
            if getattr(self, setting) < 1:
                raise ValueError(f"{setting} must be >= 1")
        for setting in ("prune_rate", "generative_mask_ratio", "mae_mask_ratio"):
            if not 0.0 <= getattr(self, setting) <= 1.0:
                raise ValueError(f"{setting} must be in [0, 1]")
        spec = model_spec(self.model)
        if not spec.trainable and self.objectives() != ["bpr"]:
            raise ValueError(f"{self.model} is not trained: alignment/reconstruction losses "
                             "need a trained model such as lightgcn or mf")
        return self

    def objectives(self) -> list[str]:
        """The loss terms this config trains with, by short name (shown with each run)."""
        on = [("con", self.contrast_weight), ("gen", self.generative_weight),
              ("mae", self.mae_weight)]
        return [self.loss] + [name for name, weight in on if weight]


def make_config(**settings: object) -> TrainConfig:
    """A :class:`TrainConfig`; invalid or unknown settings are one :class:`ConfigError`
    naming each (the message the CLI prints)."""
    try:
        return TrainConfig(**settings)
    except ValidationError as exc:
        raise ConfigError(f"invalid training settings: {validation_message(exc)}") from None


@dataclass
class Batch:
    """What an extra loss term sees of one training step."""

    users: Tensor
    pos: Tensor
    neg: Tensor
    user_emb: Tensor
    item_emb: Tensor
    model: torch.nn.Module
    data: GraphData
    adj: Tensor | None
    generator: torch.Generator


LossTerm = Callable[[Batch], Tensor]


@dataclass
class RunResult:
    run_id: str
    best_epoch: int | None
    valid: dict[str, float]
    test: dict[str, float]
    wall_s: float
    epochs_run: int
    # per test user (in ``data.test.users_with_items()`` order), for paired comparisons
    test_per_user: dict[str, np.ndarray] = field(default_factory=dict)
    # the stored (user, item) embeddings of the best epoch, on the CPU
    embeddings: tuple[Tensor, Tensor] | None = None


def build_model(config: TrainConfig, data: GraphData) -> torch.nn.Module:
    """The registered model of ``config.model`` for this view (refused if it cannot use the
    view's parts, e.g. node features, or lacks one it needs)."""
    spec = model_spec(config.model)
    spec.check_view(data)
    return spec.build(config, data)


def configured_losses(store: Store, config: TrainConfig, data: GraphData) -> list[LossTerm]:
    """The alignment/reconstruction loss modules the config turns on, built after the model
    (seeded) so that a run is reproducible. Profiles are loaded only when needed."""
    losses: list[LossTerm] = []
    dim = config.embedding_dim
    if config.contrast_weight or config.generative_weight:
        profiles = Profiles(*load_profile_embeddings(store, data.dataset, data.pins,
                                                     data.sources))
        if config.contrast_weight:
            losses.append(ProfileContrast(profiles, dim, config.contrast_weight,
                                          config.contrast_temperature))
        if config.generative_weight:
            losses.append(MaskedProfileReconstruction(
                profiles, dim, config.generative_mask_ratio, config.generative_weight,
                config.generative_temperature))
    spec = model_spec(config.model)
    if config.mae_weight and "features" not in spec.uses:
        raise ViewError(f"mae_weight needs a model with generated features (lightgcn-features "
                        f"on a view with features), not {config.model!r}")
    if spec.losses is not None:
        losses += spec.losses(config, data)
    return losses


class Trainer:
    """One training run of one model on one view, recorded in the store as it goes."""

    def __init__(self, store: Store, config: TrainConfig, data: GraphData,
                 extra_losses: Sequence[LossTerm] = (),
                 on_epoch: Callable[[int, float, dict | None], None] | None = None) -> None:
        self.store, self.config, self.data = store, config, data
        self.on_epoch = on_epoch
        seed_everything(config.seed)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.device = resolve_device(config.device)
        self.spec: ModelSpec = model_spec(config.model)
        self.model = build_model(config, data).to(self.device)
        self.extra_losses = configured_losses(store, config, data) + list(extra_losses)
        for term in self.extra_losses:
            if isinstance(term, torch.nn.Module):
                term.to(self.device)
        self.objectives = "+".join(config.objectives() + [
            getattr(t, "name", getattr(t, "__name__", type(t).__name__)) for t in extra_losses])
        self.adj = (data.normalized_adjacency(config.node_edge_weight).to(self.device)
                    if self.spec.propagates else None)
        self._epochs: list[tuple] = []  # epoch rows not yet written
        self._last_write = -math.inf  # the first epoch is written at once

    # -- pieces --------------------------------------------------------------------------
    def embeddings(self) -> tuple[Tensor, Tensor]:
        return self.model(self.adj)

    def final_embeddings(self) -> tuple[Tensor, Tensor]:
        """User and item embeddings for ranking: eval mode, no autograd graph (unit length
        when the score is cosine, so that ranking by inner product ranks by cosine)."""
        self.model.eval()
        with torch.no_grad():
            users, items = self.embeddings()
        if self.config.score == "cosine":
            users, items = F.normalize(users, dim=-1), F.normalize(items, dim=-1)
        return users, items

    def validate(self) -> dict[str, float]:
        """Validation metrics; each user's training items excluded."""
        return evaluate(*self.final_embeddings(), self.data.valid, [self.data.train_csr],
                        self.config.ks, self.config.eval_batch_size)

    def test(self, user_emb: Tensor | None = None, item_emb: Tensor | None = None
             ) -> dict[str, float]:
        """Test metrics; training and validation items excluded."""
        return {name: float(values.mean()) if len(values) else 0.0
                for name, values in self.test_per_user(user_emb, item_emb).items()}

    def test_per_user(self, user_emb: Tensor | None = None, item_emb: Tensor | None = None
                      ) -> dict[str, np.ndarray]:
        """Each test user's metrics (the users of ``data.test`` with held-out items)."""
        if user_emb is None or item_emb is None:
            user_emb, item_emb = self.final_embeddings()
        return per_user_metrics(user_emb, item_emb, self.data.test,
                                [self.data.train_csr, self.data.valid], self.config.ks,
                                self.config.eval_batch_size)[1]

    def augmented_loss(self, user_emb: Tensor, item_emb: Tensor, batch_size: int) -> Tensor:
        """BPR on a random draw of the view's synthetic triples, largest losses pruned.

        Each kept synthetic triple weighs ``aug_weight`` times a real one (the batch's real
        BPR is a mean over ``batch_size`` triples, so their sum is divided by it too); by
        default (``aug_rate`` unset) as many are drawn per batch as makes each synthetic
        triple appear about once per epoch, like each real one."""
        cfg, extra = self.config, self.data.extra_triples
        rate = cfg.aug_rate if cfg.aug_rate is not None else (
            extra.size(1) / max(1, self.data.train.size(1)))
        n = max(1, math.ceil(rate * batch_size))
        pick = torch.randint(extra.size(1), (n,), generator=self.generator)
        users, pos, neg = extra[:, pick].to(self.device)
        losses = bpr_loss_per_triple(score_pairs(user_emb, item_emb, users, pos),
                                     score_pairs(user_emb, item_emb, users, neg))
        n_kept = n - int(cfg.prune_rate * n)
        return prune_largest(losses, cfg.prune_rate) * n_kept / batch_size

    def main_loss(self, u: Tensor, pos: Tensor, neg: Tensor, item_emb: Tensor) -> Tensor:
        """BPR on the batch's (user, pos, neg) rows ``u, pos, neg``, or sampled softmax
        (InfoNCE) of each positive against ``num_negatives`` items of ``item_emb`` drawn
        uniformly and shared by the batch (``neg`` unused)."""
        cfg = self.config
        if cfg.score == "cosine":  # row-wise, so normalizing the gathered rows is the same
            u, pos, neg = (F.normalize(t, dim=-1) for t in (u, pos, neg))
        if cfg.loss == "bpr":
            return bpr_loss((u * pos).sum(-1), (u * neg).sum(-1))
        pool = torch.randint(self.data.num_items, (cfg.num_negatives,),
                             generator=self.generator).to(self.device)
        pool_emb = item_emb[pool]
        if cfg.score == "cosine":
            pool_emb = F.normalize(pool_emb, dim=-1)
        logits = torch.cat([(u * pos).sum(-1, keepdim=True), u @ pool_emb.T],
                           dim=1) / cfg.temperature
        return F.cross_entropy(logits, torch.zeros(len(u), dtype=torch.long,
                                                   device=logits.device))

    def node_embeddings(self) -> Tensor:
        """All nodes' final embeddings (users, then items, then any extra nodes)."""
        get = getattr(self.model, "get_embedding", None)
        return get(self.adj) if get is not None else torch.cat(self.model(self.adj))

    def parameters(self) -> list[torch.nn.Parameter]:
        """The model's parameters and those of loss modules (projection MLPs, mask token)."""
        params = list(self.model.parameters())
        for term in self.extra_losses:
            if isinstance(term, torch.nn.Module):
                params += list(term.parameters())
        return params

    def train_epoch(self, optimizer: torch.optim.Optimizer, sampler: NegativeSampler) -> float:
        """One pass over the training pairs in random order, ``batch_size`` at a time; the
        whole epoch's negatives are drawn at once."""
        self.model.train()
        cfg, train = self.config, self.data.train
        n_users, n_items = self.data.num_users, self.data.num_items
        order = torch.randperm(train.size(1), generator=self.generator)
        negatives = sampler.sample(train[0, order], self.generator)
        # the epoch's triples go to the device at once: no copy and no sync per step
        epoch = torch.stack([train[0, order], train[1, order], negatives]).to(self.device)
        total = torch.zeros((), device=self.device)
        steps = 0
        for users, pos, neg in epoch.split(cfg.batch_size, dim=1):
            out = self.node_embeddings()
            user_emb, item_emb = out[:n_users], out[n_users:n_users + n_items]
            # one gather for the batch's rows: each gather's backward is a dense zero tensor
            # of its source's size, the largest cost of a step after propagation
            rows = torch.cat([users, n_users + pos, n_users + neg])
            u, p, n = out[rows].split(len(users))
            loss = self.main_loss(u, p, n, item_emb)
            loss = loss + cfg.reg * l2_reg(self.model.ego_embedding[rows], batch_size=len(users))
            if self.data.extra_triples.size(1):
                loss = loss + cfg.aug_weight * self.augmented_loss(user_emb, item_emb, len(users))
            if self.extra_losses:
                batch = Batch(users, pos, neg, user_emb, item_emb, self.model, self.data,
                              self.adj, self.generator)
                loss = loss + sum(term(batch) for term in self.extra_losses)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.detach()
            steps += 1
        return float(total) / max(steps, 1)

    # -- the whole run ---------------------------------------------------------------------
    def fit(self) -> RunResult:
        cfg = self.config
        run_id = runs.new_run_id(cfg.model)
        runs.start(self.store, run_id, self.data.dataset.dataset_id, cfg.model, self.data.view,
                   cfg.model_dump(mode="json"), cfg.seed, self.objectives, self.data.sources)
        start = time.perf_counter()
        # no lock while computing: others read and write the store meanwhile; each write
        # below (batched epoch rows, the result) takes it for its own transaction
        with self.store.released():
            try:
                best_epoch, best_valid, epochs = self._fit_epochs(run_id)
                user_emb, item_emb = self.final_embeddings()  # propagate once: test and store
                per_user = self.test_per_user(user_emb, item_emb)
                test = {name: float(values.mean()) for name, values in per_user.items()}
                wall = time.perf_counter() - start
                runs.finish(self.store, run_id, best_epoch, best_valid, test, wall,
                            user_emb, item_emb)
            except BaseException as exc:
                self._flush_epochs(run_id, force=True, quiet=True)
                runs.fail(self.store, run_id, f"{type(exc).__name__}: {exc}")
                raise
        return RunResult(run_id, best_epoch, best_valid, test, wall, epochs, per_user,
                         (user_emb.cpu(), item_emb.cpu()))

    def _flush_epochs(self, run_id: str, force: bool = False, quiet: bool = False) -> None:
        """Write the buffered epoch rows when ``epoch_write_s`` has passed (or ``force``)."""
        due = time.monotonic() - self._last_write >= self.config.epoch_write_s
        if not self._epochs or not (force or due):
            return
        try:
            runs.record_epochs(self.store, run_id, self._epochs)
        except StoreError:
            if not quiet:
                raise
            return  # failing anyway: the caller's error is the one to report
        self._epochs, self._last_write = [], time.monotonic()

    def _fit_epochs(self, run_id: str) -> tuple[int | None, dict, int]:
        cfg = self.config
        if not self.spec.trainable:
            return None, self.validate(), 0
        optimizer = make_optimizer(self.parameters(), cfg.lr)
        sampler = NegativeSampler(self.data.train, self.data.num_items)
        best_score, best_epoch, best_valid, best_state, bad = -1.0, 0, {}, None, 0
        epoch = 0
        for epoch in range(1, cfg.max_epochs + 1):
            t0 = time.perf_counter()
            loss = self.train_epoch(optimizer, sampler)
            train_s = time.perf_counter() - t0
            valid, eval_s = None, None
            if epoch % cfg.eval_every == 0 or epoch == cfg.max_epochs:
                t1 = time.perf_counter()
                valid = self.validate()
                eval_s = time.perf_counter() - t1
                if valid[cfg.select_metric] > best_score:
                    best_score, best_epoch, best_valid = valid[cfg.select_metric], epoch, valid
                    best_state, bad = copy.deepcopy(self.model.state_dict()), 0
                else:
                    bad += 1
            self._epochs.append((epoch, loss, train_s, eval_s, valid))
            self._flush_epochs(run_id)
            if self.on_epoch:
                self.on_epoch(epoch, loss, valid)
            if bad >= cfg.patience and epoch >= cfg.min_epochs:
                break
        self._flush_epochs(run_id, force=True)
        if best_state is not None:
            self.model.load_state_dict(best_state)
        return best_epoch, best_valid, epoch


def make_optimizer(params: Sequence[torch.nn.Parameter], lr: float) -> torch.optim.Adam:
    """Adam; its fused kernel (one pass over each parameter, on CPU and GPU) when every
    parameter is a floating-point tensor on a device that has it."""
    fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.Adam(params, lr=lr, fused=fused or None)


def resolve_device(name: str) -> torch.device:
    """``auto``: the GPU when there is one; a named GPU that is absent is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for, but torch sees no GPU here "
                          "(use --device cpu or auto)")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"unknown device {name!r}: cpu, cuda, cuda:N or auto") from exc


def train(store: Store, config: TrainConfig, dataset: str | None = None, view: str = "base",
          extra_losses: Sequence[LossTerm] = (),
          on_epoch: Callable[[int, float, dict | None], None] | None = None,
          pins: dict[str, str] | None = None) -> RunResult:
    """Load the view (failing clearly before any work), train, record, and return the run.
    ``pins`` fixes the enrichment jobs the view reads (see :func:`~workbench.graph.views.pin`)."""
    data = load_graph(store, dataset, view, pins=pins)
    return Trainer(store, config, data, extra_losses, on_epoch).fit()
