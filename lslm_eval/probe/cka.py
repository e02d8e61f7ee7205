"""Cross-layer linear CKA between speech layer l and text layer m (SPEC §5), streaming, in float64.

    CKA(X, Y) = |Y~^T X~|_F^2 / (|X~^T X~|_F |Y~^T Y~|_F),   X~, Y~ = X, Y with column means removed.

Rows (n of them) pair a speech vector with a text vector:
    pooled   one row per item: the span means of h^s_l and h^t_m
    aligned  one row per text token j: h^t_{m,j} and the speech frame h^s_{l,i*} with
             i* = argmax_i cos(h^s_{l,i}, h^t_{m,j}) (paths.alignment_path, computed per cell (l, m)).

Debiased CKA replaces each |.|_F^2 by the unbiased HSIC estimator (Song et al. 2012) on the centred
linear Grams K = X~X~^T, L = Y~Y~^T; with k_i = |x~_i|^2, l_i = |y~_i|^2 and the factor 1/(n(n-3))
dropped (it cancels):
    HSIC_u(X, Y) = tr(KL) - n/(n-2) sum_i k_i l_i + (sum_i k_i)(sum_i l_i) / ((n-1)(n-2)).
It needs the per-row squared norms of the centred rows, which stream exactly through a few extra sums
(sum k^2, sum k x per block; sum k l, sum k y, sum l x per pair; all O(d)). Undefined for n < 4.
CKA is NaN when a self-term is 0 or negative (constant features, n = 1, or a negative debiased estimate);
negative values are returned as they are. Nothing is clipped.

Memory (float64; d = width, n = rows, P = requested (l, m) pairs, B = feature blocks, where
B = |speech layers| + |text layers| pooled and B = P + |text layers| aligned, since aligned speech rows
depend on the pair):
    moments  sum x, sum x x^T per block and sum x y^T per pair:  about 8 d^2 (B + P) bytes, whatever n.
    rows     every row kept:                                        8 n d B bytes, grows with n.
The accumulator keeps rows while they are the smaller, then switches (exactly, once) to moments, so it
holds min(rows, moments) bytes, at most `max_bytes` (peak about twice that during the switch); when
neither fits it raises and asks for fewer pairs. Example, d = 576, L = 30, all 961 pairs:
pooled moments 2.7 GB, rows 0.29 MB per item (rows win below about 9,500 items); aligned moments
5.2 GB, rows 4.6 MB per token. For the full aligned matrix, restrict `pairs` (e.g. "diagonal": 31 pairs, 0.25 GB)
or subsample layers. Compute is O(n d^2) per pair either way (O(n^2 d) when rows are kept and n < d).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from .paths import COS, alignment_path, validate_item
from .stats import json_number

POOLED = "pooled"
ALIGNED = "aligned"
VIEWS = (POOLED, ALIGNED)
AUTO, ROWS, MOMENTS = "auto", "rows", "moments"
STRATEGIES = (AUTO, ROWS, MOMENTS)
DEFAULT_MAX_BYTES = 4 * 2**30
FLOAT64_BYTES = 8

Key = tuple  # ("speech", l) pooled, ("speech", l, m) aligned, ("text", m)


def _hsic(frob: float, diag_dot: float, trace_x: float, trace_y: float, n: int, debiased: bool) -> float:
    """Biased HSIC (|Y~^T X~|_F^2) or the unbiased estimator, without the 1/(n(n-3)) factor."""
    if not debiased:
        return frob
    if n < 4:
        return math.nan
    return frob - n / (n - 2) * diag_dot + trace_x * trace_y / ((n - 1) * (n - 2))


def _cka(hsic_xy: float, hsic_xx: float, hsic_yy: float) -> float:
    if not (hsic_xx > 0 and hsic_yy > 0):  # also catches NaN
        return math.nan
    return hsic_xy / math.sqrt(hsic_xx * hsic_yy)


def _frob_cross(x: Tensor, y: Tensor) -> float:
    """|y^T x|_F^2 for centred x (n, p), y (n, q), through the cheaper of the feature and sample space."""
    n, p, q = x.shape[0], x.shape[1], y.shape[1]
    if n * n < p * q:
        return ((x @ x.T) * (y @ y.T)).sum().item()
    return (y.T @ x).pow(2).sum().item()


def linear_cka(x: Tensor, y: Tensor, debiased: bool = False) -> float:
    """Linear CKA of rows x (n, p) and y (n, q), directly from the rows, in float64."""
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"need x (n, p) and y (n, q) with the same n, got {tuple(x.shape)} and {tuple(y.shape)}")
    x, y = x.double(), y.double()
    x, y = x - x.mean(0), y - y.mean(0)
    kx, ky = x.pow(2).sum(1), y.pow(2).sum(1)
    n, tx, ty = x.shape[0], kx.sum().item(), ky.sum().item()
    hxy = _hsic(_frob_cross(x, y), (kx * ky).sum().item(), tx, ty, n, debiased)
    hxx = _hsic(_frob_cross(x, x), (kx * kx).sum().item(), tx, tx, n, debiased)
    hyy = _hsic(_frob_cross(y, y), (ky * ky).sum().item(), ty, ty, n, debiased)
    return _cka(hxy, hxx, hyy)


def layer_pairs(num_layers: int, pairs: str | Iterable[tuple[int, int]] | None) -> list[tuple[int, int]]:
    """Resolve a pair request: None or "all" (every (l, m)), "diagonal" (l = m), or explicit (l, m) pairs."""
    size = num_layers + 1
    if pairs is None or pairs == "all":
        return [(l, m) for l in range(size) for m in range(size)]
    if pairs == "diagonal":
        return [(l, l) for l in range(size)]
    if isinstance(pairs, str):
        raise ValueError(f"unknown pairs {pairs!r}; use None/'all', 'diagonal', or a list of (speech_layer, text_layer)")
    resolved = sorted({(int(l), int(m)) for l, m in pairs})
    bad = [p for p in resolved if not (0 <= p[0] < size and 0 <= p[1] < size)]
    if bad or not resolved:
        raise ValueError(f"layer pairs must be non-empty and within 0..{num_layers}, got {bad or 'none'}")
    return resolved


class CrossLayerCKA:
    """Streaming (L+1) x (L+1) linear CKA over (speech layer l, text layer m); see the module docstring."""

    def __init__(self, view: str = POOLED, pairs: str | Iterable[tuple[int, int]] | None = None, debiased: bool = False,
                 max_bytes: int = DEFAULT_MAX_BYTES, strategy: str = AUTO, device: torch.device | str | None = None):
        if view not in VIEWS:
            raise ValueError(f"unknown view {view!r}; choose one of {VIEWS}")
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; choose one of {STRATEGIES}")
        self.view, self.debiased, self.max_bytes, self.strategy = view, debiased, max_bytes, strategy
        self.requested_pairs = pairs if pairs is None or isinstance(pairs, str) else list(pairs)
        self.device = None if device is None else torch.device(device)
        self.num_layers: int | None = None
        self.dim: int | None = None
        self.pairs: list[tuple[int, int]] = []
        self.mode = MOMENTS if strategy == MOMENTS else ROWS
        self.n_rows = 0
        self.n_items = 0
        self.rows: dict[Key, list[Tensor]] = {}
        self.side: dict[Key, dict[str, Tensor]] = {}
        self.cross: dict[tuple[int, int], dict[str, Tensor]] = {}

    # -- layout -----------------------------------------------------------------------------------
    def speech_key(self, l: int, m: int) -> Key:
        return ("speech", l) if self.view == POOLED else ("speech", l, m)

    @property
    def blocks(self) -> list[Key]:
        speech = dict.fromkeys(self.speech_key(l, m) for l, m in self.pairs)
        text = dict.fromkeys(("text", m) for _, m in self.pairs)
        return [*speech, *text]

    def moments_bytes(self) -> int:
        d = self.dim
        return FLOAT64_BYTES * (len(self.blocks) * (d * d + 2 * d + 2) + len(self.pairs) * (d * d + 2 * d + 1))

    def rows_bytes(self, n_rows: int) -> int:
        return FLOAT64_BYTES * n_rows * self.dim * len(self.blocks)

    def _configure(self, num_layers: int, dim: int, device: torch.device) -> None:
        if self.num_layers is None:
            self.num_layers, self.dim = num_layers, dim
            if self.device is None:
                self.device = device
            self.pairs = layer_pairs(num_layers, self.requested_pairs)
            if self.mode == MOMENTS:
                self._check_fits(self.moments_bytes())
        elif (num_layers, dim) != (self.num_layers, self.dim):
            raise ValueError(f"states with {num_layers} layers and width {dim} do not match earlier ones "
                             f"({self.num_layers} layers, width {self.dim}); one accumulator per model")

    def _check_fits(self, needed: int) -> None:
        if needed > self.max_bytes:
            raise MemoryError(
                f"cross-layer CKA ({self.view}, {len(self.pairs)} layer pairs, width {self.dim}) needs "
                f"{needed / 2**30:.2f} GiB (moments {self.moments_bytes() / 2**30:.2f} GiB, rows "
                f"{self.rows_bytes(1)} bytes each), above max_bytes = {self.max_bytes / 2**30:.2f} GiB; "
                "request fewer pairs (pairs='diagonal' or a list of (l, m)) or raise max_bytes")

    # -- rows of one item ---------------------------------------------------------------------------
    def _item_rows(self, hs: Tensor, ht: Tensor) -> dict[Key, Tensor]:
        """Rows one (validated) item contributes to each block: pooled (1, d) span means, aligned (T_t, d)."""
        text_layers = sorted({m for _, m in self.pairs})
        if self.view == POOLED:
            rows = {("text", m): ht[m].double().mean(0, keepdim=True) for m in text_layers}
            for l in sorted({l for l, _ in self.pairs}):
                rows[("speech", l)] = hs[l].double().mean(0, keepdim=True)
            return rows
        rows = {("text", m): ht[m].double() for m in text_layers}
        for l in sorted({l for l, _ in self.pairs}):
            ms = [m for ll, m in self.pairs if ll == l]
            paths = alignment_path(hs[l], ht[ms], COS)  # (len(ms), T_t): one path per cell (l, m)
            speech = hs[l].double()
            for m, path in zip(ms, paths):
                rows[("speech", l, m)] = speech[path]
        return rows

    def update(self, hs: Tensor, ht: Tensor) -> None:
        """Add one item: hs (L+1, T_s, d), ht (L+1, T_t, d)."""
        self.update_batch([(hs, ht)])

    def update_batch(self, items: Sequence[tuple[Tensor, Tensor]]) -> None:
        """Add a list of (hs, ht) pairs of unpadded spans (lengths may differ)."""
        if not items:
            return
        for hs, ht in items:
            validate_item(hs, ht)
            self._configure(hs.shape[0] - 1, hs.shape[2], hs.device)
        per_item = [self._item_rows(hs.to(self.device), ht.to(self.device)) for hs, ht in items]
        chunk = {key: torch.cat([rows[key] for rows in per_item]) for key in per_item[0]}
        self._add_rows(chunk)
        self.n_items += len(items)

    # -- accumulation -------------------------------------------------------------------------------
    def _add_rows(self, chunk: dict[Key, Tensor]) -> None:
        n_new = next(iter(chunk.values())).shape[0]
        if self.mode == ROWS:
            keep_rows = self.strategy == ROWS or self.rows_bytes(self.n_rows + n_new) <= self.moments_bytes()
            if keep_rows:
                self._check_fits(self.rows_bytes(self.n_rows + n_new))
                for key, x in chunk.items():
                    self.rows.setdefault(key, []).append(x)
                self.n_rows += n_new
                return
            self._check_fits(self.moments_bytes())
            self._switch_to_moments()
        self._accumulate(chunk)
        self.n_rows += n_new

    def _switch_to_moments(self) -> None:
        for key in list(self.rows):
            self.rows[key] = [torch.cat(self.rows[key])]
        stored = {key: parts[0] for key, parts in self.rows.items()}
        self.rows = {}
        self.mode = MOMENTS
        if stored:
            self._accumulate(stored)

    def _accumulate(self, chunk: dict[Key, Tensor]) -> None:
        sq = {key: x.pow(2).sum(1) for key, x in chunk.items()}
        for key in self.blocks:
            x, k = chunk[key], sq[key]
            st = self.side.get(key)
            if st is None:
                d = x.shape[1]
                st = self.side[key] = {"sum": x.new_zeros(d), "gram": x.new_zeros(d, d), "sum_sq2": x.new_zeros(()),
                                       "sum_sq_x": x.new_zeros(d)}
            st["sum"] += x.sum(0)
            st["gram"] += x.T @ x
            st["sum_sq2"] += (k * k).sum()
            st["sum_sq_x"] += k @ x
        for l, m in self.pairs:
            sk, tk = self.speech_key(l, m), ("text", m)
            x, y, kx, ky = chunk[sk], chunk[tk], sq[sk], sq[tk]
            cr = self.cross.get((l, m))
            if cr is None:
                cr = self.cross[(l, m)] = {"cross": x.new_zeros(x.shape[1], y.shape[1]), "sum_sq_prod": x.new_zeros(()),
                                           "sum_sqx_y": x.new_zeros(y.shape[1]), "sum_sqy_x": x.new_zeros(x.shape[1])}
            cr["cross"] += x.T @ y
            cr["sum_sq_prod"] += (kx * ky).sum()
            cr["sum_sqx_y"] += kx @ y
            cr["sum_sqy_x"] += ky @ x

    def merge(self, other: CrossLayerCKA) -> CrossLayerCKA:
        """Add another shard (same view, options and model) into this one, in place; returns self."""
        if (other.view, other.debiased) != (self.view, self.debiased):
            raise ValueError(f"cannot merge CKA shards with different view/debiased: "
                             f"{(self.view, self.debiased)} vs {(other.view, other.debiased)}")
        if other.num_layers is None:
            return self
        self._configure(other.num_layers, other.dim, other.device)
        if other.pairs != self.pairs:
            raise ValueError("cannot merge CKA shards over different layer pairs")
        if other.mode == ROWS:
            if other.rows:
                self._add_rows({key: torch.cat(parts).to(self.device) for key, parts in other.rows.items()})
        else:
            if self.mode == ROWS:
                self._check_fits(self.moments_bytes())
                self._switch_to_moments()
            for mine, theirs in ((self.side, other.side), (self.cross, other.cross)):
                for key, stats in theirs.items():
                    if key not in mine:
                        mine[key] = {name: torch.zeros_like(v, device=self.device) for name, v in stats.items()}
                    for name, value in stats.items():
                        mine[key][name] += value.to(self.device)
            self.n_rows += other.n_rows
        self.n_items += other.n_items
        return self

    # -- result -------------------------------------------------------------------------------------
    def _values_from_rows(self) -> dict[tuple[int, int], float]:
        for key in list(self.rows):
            self.rows[key] = [torch.cat(self.rows[key])]
        n = self.n_rows

        def centred(key: Key) -> Tensor:
            x = self.rows[key][0]
            return x - x.mean(0)

        self_terms = {}
        for key in self.blocks:
            x = centred(key)
            k = x.pow(2).sum(1)
            trace = k.sum().item()
            self_terms[key] = (_hsic(_frob_cross(x, x), (k * k).sum().item(), trace, trace, n, self.debiased), k, trace)
        values = {}
        for l, m in self.pairs:
            sk, tk = self.speech_key(l, m), ("text", m)
            (hxx, kx, tx), (hyy, ky, ty) = self_terms[sk], self_terms[tk]
            hxy = _hsic(_frob_cross(centred(sk), centred(tk)), (kx * ky).sum().item(), tx, ty, n, self.debiased)
            values[(l, m)] = _cka(hxy, hxx, hyy)
        return values

    def _values_from_moments(self) -> dict[tuple[int, int], float]:
        n = self.n_rows
        self_terms = {}
        for key in self.blocks:
            st = self.side[key]
            mu = st["sum"] / n
            p = mu.dot(mu)
            gram = st["gram"]
            trace_raw = gram.diagonal().sum()
            frob = (gram - n * torch.outer(mu, mu)).pow(2).sum().item()
            diag_dot = (st["sum_sq2"] - 4 * mu.dot(st["sum_sq_x"]) + 4 * mu.dot(gram @ mu) + 2 * p * trace_raw
                        - 3 * n * p * p).item()
            trace = (trace_raw - n * p).item()
            self_terms[key] = (_hsic(frob, diag_dot, trace, trace, n, self.debiased), mu, p, trace_raw, trace)
        values = {}
        for l, m in self.pairs:
            (hxx, mu_x, p, tr_x, trace_x), (hyy, mu_y, q, tr_y, trace_y) = self_terms[self.speech_key(l, m)], self_terms[("text", m)]
            cr = self.cross[(l, m)]
            frob = (cr["cross"] - n * torch.outer(mu_x, mu_y)).pow(2).sum().item()
            diag_dot = (cr["sum_sq_prod"] - 2 * mu_y.dot(cr["sum_sqx_y"]) - 2 * mu_x.dot(cr["sum_sqy_x"])
                        + 4 * mu_x.dot(cr["cross"] @ mu_y) + q * tr_x + p * tr_y - 3 * n * p * q).item()
            values[(l, m)] = _cka(_hsic(frob, diag_dot, trace_x, trace_y, n, self.debiased), hxx, hyy)
        return values

    def values(self) -> dict[tuple[int, int], float]:
        """{(l, m): CKA} for the requested pairs (NaN where undefined)."""
        if not self.n_rows:
            raise ValueError("no items were added; call update() before asking for CKA values")
        return self._values_from_rows() if self.mode == ROWS else self._values_from_moments()

    def result(self) -> dict:
        """JSON-ready: matrix[l][m] for speech layer l, text layer m; null = NaN or a pair not requested."""
        size = self.num_layers + 1 if self.num_layers is not None else 0
        matrix: list[list[float | None]] = [[None] * size for _ in range(size)]
        for (l, m), value in self.values().items():
            matrix[l][m] = json_number(value)
        return {"view": self.view, "debiased": self.debiased, "num_layers": self.num_layers,
                "n_items": self.n_items, "n_rows": self.n_rows, "strategy": self.mode,
                "pairs": [list(p) for p in self.pairs], "matrix": matrix}

    # -- persistence (shards from several processes) -------------------------------------------------
    def save(self, path: str) -> None:
        """Write the state to a .safetensors file (tensors + JSON metadata) for `load` and `merge`."""
        from safetensors.torch import save_file

        tensors: dict[str, Tensor] = {}
        for key, parts in self.rows.items():
            tensors["rows/" + "/".join(map(str, key))] = torch.cat(parts).contiguous().cpu()
        for key, stats in self.side.items():
            for name, value in stats.items():
                tensors["side/" + "/".join(map(str, key)) + "/" + name] = value.contiguous().cpu()
        for (l, m), stats in self.cross.items():
            for name, value in stats.items():
                tensors[f"cross/{l}/{m}/{name}"] = value.contiguous().cpu()
        meta = {"view": self.view, "debiased": self.debiased, "max_bytes": self.max_bytes, "strategy": self.strategy,
                "num_layers": self.num_layers, "dim": self.dim, "pairs": self.pairs, "mode": self.mode,
                "n_rows": self.n_rows, "n_items": self.n_items}
        save_file(tensors, path, metadata={"lslm_eval.cka": json.dumps(meta)})

    @classmethod
    def load(cls, path: str, device: torch.device | str | None = None) -> CrossLayerCKA:
        from safetensors import safe_open

        with safe_open(path, framework="pt") as f:
            raw = (f.metadata() or {}).get("lslm_eval.cka")
            if raw is None:
                raise ValueError(f"{path} is not a CrossLayerCKA state (no 'lslm_eval.cka' metadata)")
            meta = json.loads(raw)
            tensors = {name: f.get_tensor(name) for name in f.keys()}
        acc = cls(view=meta["view"], pairs=[tuple(p) for p in meta["pairs"]], debiased=meta["debiased"],
                  max_bytes=meta["max_bytes"], strategy=meta["strategy"], device=device)
        if meta["num_layers"] is None:
            return acc
        acc._configure(meta["num_layers"], meta["dim"], torch.device("cpu"))
        acc.mode, acc.n_rows, acc.n_items = meta["mode"], meta["n_rows"], meta["n_items"]

        def key_of(parts: list[str]) -> Key:
            return (parts[0], *map(int, parts[1:]))

        for name, value in tensors.items():
            kind, *parts = name.split("/")
            value = value.to(acc.device)
            if kind == "rows":
                acc.rows[key_of(parts)] = [value]
            elif kind == "side":
                acc.side.setdefault(key_of(parts[:-1]), {})[parts[-1]] = value
            else:
                acc.cross.setdefault((int(parts[0]), int(parts[1])), {})[parts[2]] = value
        return acc
