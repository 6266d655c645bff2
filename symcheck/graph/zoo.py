"""A zoo of small standard models, spelt ``NAME:key=value,...``, and :func:`resolve_model`.

Every model is one :class:`ZooModel` entry with documented defaults for every
key (``symcheck symmetries --help`` and ``docs/graph.md`` list them):

* ``mlp``: ``inputs=3,hidden=4,layers=2,outputs=2,activation=tanh,batch=2``;
  linear + activation blocks (``fc1`` ... ``fc{layers+1}``), loss mse.
* ``cnn``: ``channels=4,size=6,classes=3,in_channels=1,kernel=3,activation=relu,batch=2``;
  conv-act-conv-act (padding ``kernel // 2``), 2x2 average pooling, flatten,
  dense classifier, loss cross_entropy (``size`` even).
* ``resmlp``: ``d_model=4,d_ff=8,blocks=2,inputs=3,outputs=2,activation=tanh,batch=2``;
  input projection, pre-norm residual blocks ``s + W2 act(W1 LN(s))``, final
  LayerNorm and head, loss mse.
* ``transformer``:
  ``d_model=8,heads=2,d_ff=16,layers=2,seq=3,vocab=5,rope=0,kv_heads=0,causal=1,batch=2``
  (``kv_heads=0`` means ``heads``); token embedding, pre-LN blocks with
  multi-head attention (q, k, v, o projections without bias, optional rotary
  embedding, grouped-query attention when ``kv_heads < heads``) and a SwiGLU
  FFN ``down(silu(gate(x)) * up(x))``, final LayerNorm, unembedding, loss
  cross_entropy.
* ``moe``: ``d_model=4,experts=3,d_ff=8,outputs=2,activation=tanh,batch=2``;
  a soft mixture of experts: router softmax gates times expert FFNs
  (``up``, ``down`` as :func:`expert_linear`), then a linear head, loss mse.

A chain spec such as ``3-4-4-2`` is lowered to an ``mlp`` graph with those
widths. :func:`resolve_model` accepts a chain spec, a zoo spec or the path of
a JSON graph file (:mod:`symcheck.graph.graphfile`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symcheck.errors import InvalidArgument
from symcheck.graph.graphfile import load_graph_file
from symcheck.graph.ir import Graph, GraphBuilder

__all__ = ["ZOO", "ZooModel", "chain_graph", "parse_zoo_spec", "resolve_model"]

MAX_VALUE = 4096
_CHAIN = re.compile(r"^\s*\d+(\s*-\s*\d+)+\s*$")


@dataclass(frozen=True)
class ZooModel:
    """A zoo entry: its defaults (the key types) and a builder from a full option dict."""

    name: str
    defaults: Mapping[str, Any]
    build: Callable[[Mapping[str, Any]], Graph]
    doc: str


def _dense(
    b: GraphBuilder, x: str, name: str, out: int, inp: int, *, bias: bool = True, output: str = ""
) -> str:
    """A linear node ``name`` with ``name.weight`` (out, inp) and optionally ``name.bias``."""
    params, shapes = [f"{name}.weight"], [(out, inp)]
    if bias:
        params.append(f"{name}.bias")
        shapes.append((out,))
    return b.node("linear", [x], params, shapes=shapes, output=output or name)


def chain_graph(
    widths: Sequence[int],
    *,
    activation: str | Sequence[str] = "tanh",
    bias: bool = True,
    batch: int = 2,
    loss: str = "mse",
    reduction: str = "mean",
) -> Graph:
    """The graph of a fully connected chain, in ``Network``'s layout.

    Layer ``l`` is ``fc{l}`` with ``fc{l}.weight`` of shape (widths[l], widths[l-1])
    (rows are neurons, as PyTorch stores them) and ``fc{l}.bias``; every hidden
    layer is followed by its activation (one name, or one per hidden layer);
    the output layer is linear (the loss applies its own link).
    """
    hidden = len(widths) - 2
    names = [activation] * hidden if isinstance(activation, str) else list(activation)
    if len(names) != hidden:
        raise InvalidArgument(
            f"activation={activation!r} gives {len(names)} names for {hidden} hidden layers; "
            "give one name or one per hidden layer"
        )
    b = GraphBuilder()
    h = b.input("x", (batch, widths[0]))
    for layer in range(1, len(widths)):
        name = f"fc{layer}"
        h = _dense(b, h, name, widths[layer], widths[layer - 1], bias=bias)
        if layer <= hidden:
            h = b.node("activation", [h], output=f"{name}.act", name=names[layer - 1])
    return b.build(h, loss=loss, reduction=reduction)


def _mlp(o: Mapping[str, Any]) -> Graph:
    widths = [o["inputs"], *([o["hidden"]] * o["layers"]), o["outputs"]]
    return chain_graph(widths, activation=o["activation"], batch=o["batch"])


def _cnn(o: Mapping[str, Any]) -> Graph:
    c, size, k, act = o["channels"], o["size"], o["kernel"], o["activation"]
    if size % 2:
        raise InvalidArgument(f"cnn: size={size} must be even (2x2 pooling)")
    if k % 2 == 0:
        raise InvalidArgument(f"cnn: kernel={k} must be odd (same padding)")
    b = GraphBuilder()
    h = b.input("x", (o["batch"], o["in_channels"], size, size))
    for layer, c_in in ((1, o["in_channels"]), (2, c)):
        h = b.node(
            "conv2d",
            [h],
            [f"conv{layer}.weight", f"conv{layer}.bias"],
            shapes=[(c, c_in, k, k), (c,)],
            output=f"conv{layer}",
            padding=k // 2,
        )
        h = b.node("activation", [h], output=f"conv{layer}.act", name=act)
    h = b.node("avg_pool2d", [h], output="pool", kernel=2)
    h = b.node("flatten", [h], output="flat")
    features = c * (size // 2) ** 2
    y = _dense(b, h, "fc", o["classes"], features, output="logits")
    return b.build(y, loss="cross_entropy")


def _layer_norm(b: GraphBuilder, x: str, name: str, width: int) -> str:
    return b.node(
        "layer_norm",
        [x],
        [f"{name}.weight", f"{name}.bias"],
        shapes=[(width,), (width,)],
        output=name,
    )


def _resmlp(o: Mapping[str, Any]) -> Graph:
    d, f, act = o["d_model"], o["d_ff"], o["activation"]
    b = GraphBuilder()
    x = b.input("x", (o["batch"], o["inputs"]))
    s = _dense(b, x, "embed", d, o["inputs"], output="s0")
    for k in range(o["blocks"]):
        p = f"b{k}"
        h = _layer_norm(b, s, f"{p}.norm", d)
        h = _dense(b, h, f"{p}.up", f, d)
        h = b.node("activation", [h], output=f"{p}.act", name=act)
        h = _dense(b, h, f"{p}.down", d, f)
        s = b.node("add", [s, h], output=f"s{k + 1}")
    h = _layer_norm(b, s, "norm", d)
    y = _dense(b, h, "head", o["outputs"], d, output="y")
    return b.build(y, loss="mse")


def _transformer(o: Mapping[str, Any]) -> Graph:
    d, heads, f, seq, vocab = (o[k] for k in ("d_model", "heads", "d_ff", "seq", "vocab"))
    kv = o["kv_heads"] or heads
    if d % heads:
        raise InvalidArgument(f"transformer: d_model={d} must be a multiple of heads={heads}")
    if heads % kv:
        raise InvalidArgument(f"transformer: heads={heads} must be a multiple of kv_heads={kv}")
    dh = d // heads
    if o["rope"] and dh % 2:
        raise InvalidArgument(f"transformer: rope needs an even head dim, got d_model/heads={dh}")
    b = GraphBuilder()
    ids = b.input("ids", (o["batch"], seq), dtype="int")
    s = b.node("embedding", [ids], ["embed.table"], shapes=[(vocab, d)], output="s0")
    for k in range(o["layers"]):
        p = f"b{k}"
        n = _layer_norm(b, s, f"{p}.ln1", d)
        split = {}
        for name, count in (("q", heads), ("k", kv), ("v", kv)):
            h = _dense(b, n, f"{p}.{name}", count * dh, d, bias=False)
            h = b.node("split_heads", [h], output=f"{p}.{name}.heads", heads=count)
            if o["rope"] and name in ("q", "k"):
                h = b.node("rope", [h], output=f"{p}.{name}.rope")
            split[name] = h
        a = b.node(
            "sdpa",
            [split["q"], split["k"], split["v"]],
            output=f"{p}.attn",
            causal=bool(o["causal"]),
        )
        a = b.node("merge_heads", [a], output=f"{p}.attn.merged")
        a = _dense(b, a, f"{p}.o", d, d, bias=False)
        s = b.node("add", [s, a], output=f"{p}.res1")
        n = _layer_norm(b, s, f"{p}.ln2", d)
        gate = _dense(b, n, f"{p}.gate", f, d, bias=False)
        up = _dense(b, n, f"{p}.up", f, d, bias=False)
        g = b.node("activation", [gate], output=f"{p}.silu", name="silu")
        m = b.node("mul", [g, up], output=f"{p}.glu")
        m = _dense(b, m, f"{p}.down", d, f, bias=False)
        s = b.node("add", [s, m], output=f"{p}.res2")
    n = _layer_norm(b, s, "ln_f", d)
    y = _dense(b, n, "unembed", vocab, d, bias=False, output="logits")
    return b.build(y, loss="cross_entropy")


def _moe(o: Mapping[str, Any]) -> Graph:
    d, e, f = o["d_model"], o["experts"], o["d_ff"]
    b = GraphBuilder()
    x = b.input("x", (o["batch"], d))
    logits = _dense(b, x, "router", e, d)
    gates = b.node("softmax", [logits], output="gates")
    h = b.node(
        "expert_linear",
        [x],
        ["up.weight", "up.bias"],
        shapes=[(e, f, d), (e, f)],
        output="up",
        shared_input=True,
    )
    h = b.node("activation", [h], output="act", name=o["activation"])
    h = b.node(
        "expert_linear",
        [h],
        ["down.weight", "down.bias"],
        shapes=[(e, d, f), (e, d)],
        output="down",
    )
    h = b.node("moe_combine", [gates, h], output="mix")
    y = _dense(b, h, "head", o["outputs"], d, output="y")
    return b.build(y, loss="mse")


ZOO: dict[str, ZooModel] = {
    m.name: m
    for m in (
        ZooModel(
            "mlp",
            {"inputs": 3, "hidden": 4, "layers": 2, "outputs": 2, "activation": "tanh", "batch": 2},
            _mlp,
            "fully connected chain",
        ),
        ZooModel(
            "cnn",
            {
                "channels": 4,
                "size": 6,
                "classes": 3,
                "in_channels": 1,
                "kernel": 3,
                "activation": "relu",
                "batch": 2,
            },
            _cnn,
            "conv-conv-pool-dense",
        ),
        ZooModel(
            "resmlp",
            {
                "d_model": 4,
                "d_ff": 8,
                "blocks": 2,
                "inputs": 3,
                "outputs": 2,
                "activation": "tanh",
                "batch": 2,
            },
            _resmlp,
            "pre-norm residual MLP",
        ),
        ZooModel(
            "transformer",
            {
                "d_model": 8,
                "heads": 2,
                "d_ff": 16,
                "layers": 2,
                "seq": 3,
                "vocab": 5,
                "rope": 0,
                "kv_heads": 0,
                "causal": 1,
                "batch": 2,
            },
            _transformer,
            "pre-LN decoder (kv_heads=0 means heads)",
        ),
        ZooModel(
            "moe",
            {"d_model": 4, "experts": 3, "d_ff": 8, "outputs": 2, "activation": "tanh", "batch": 2},
            _moe,
            "soft mixture of experts",
        ),
    )
}

_ALLOW_ZERO = {"rope", "kv_heads", "causal"}


def _defaults_text(model: ZooModel) -> str:
    return ",".join(f"{k}={v}" for k, v in model.defaults.items())


def parse_zoo_spec(spec: str) -> tuple[ZooModel, dict[str, Any]]:
    """Split ``NAME:key=value,...`` into the zoo entry and the full option dict."""
    name, _, rest = spec.strip().partition(":")
    if name not in ZOO:
        raise InvalidArgument(
            f"model {spec!r} is not known; use a chain spec like 3-4-4-2, a graph file (.json) "
            f"or one of the zoo models {sorted(ZOO)} as NAME:key=value,..."
        )
    model = ZOO[name]
    options: dict[str, Any] = dict(model.defaults)
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, text = item.partition("=")
        key, text = key.strip(), text.strip()
        if not eq or key not in model.defaults:
            raise InvalidArgument(
                f"{name}: {item!r} is not a valid option; the keys (with defaults) are "
                f"{_defaults_text(model)}"
            )
        default = model.defaults[key]
        if isinstance(default, str):
            options[key] = text
            continue
        low = 0 if key in _ALLOW_ZERO else 1
        if not re.fullmatch(r"\d+", text) or not low <= int(text) <= MAX_VALUE:
            raise InvalidArgument(
                f"{name}: {key}={text!r} must be an integer from {low} to {MAX_VALUE}"
            )
        options[key] = int(text)
    return model, options


def resolve_model(spec: str) -> Graph:
    """A graph from a chain spec (``3-4-4-2``), a zoo spec or a JSON graph-file path."""
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidArgument(f"model {spec!r} is empty; give 3-4-4-2, NAME:key=value or a .json")
    if _CHAIN.match(spec):
        widths = [int(w) for w in spec.replace(" ", "").split("-")]
        if not all(1 <= w <= MAX_VALUE for w in widths):
            raise InvalidArgument(f"chain spec {spec!r}: every width must be 1 to {MAX_VALUE}")
        return chain_graph(widths)
    if spec.endswith(".json") or Path(spec).is_file():
        return load_graph_file(spec)
    model, options = parse_zoo_spec(spec)
    return model.build(options)
