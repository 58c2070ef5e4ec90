"""Component names, the one textual vocabulary of the analysis.

The spellings are those of vocab/names.hpp (kComponentForms), through which the C++ side parses
and prints every name: "9.1" = layer 9 head 1, "mlp3" (alias "m3") = MLP of layer 3, "n3.117" =
neuron 117 of layer 3; a set ablated together is "9.1+4.4". The HDF5 tables store a component as
(kind, layer, index) integers (reducers/schema.hpp: component_kind 0 head, 1 mlp, 2 neuron).
"""
import re

HEAD, MLP, NEURON = 0, 1, 2
KIND_NAMES = {HEAD: "head", MLP: "mlp", NEURON: "neuron"}

_HEAD_RE = re.compile(r"^(\d+)\.(\d+)$")
_MLP_RE = re.compile(r"^(?:mlp|m)(\d+)$")  # "m3" is an alias (vocab/names.hpp)
_NEURON_RE = re.compile(r"^n(\d+)\.(\d+)$")


def name(kind, layer, index):
    """Name of one component; None for the -1 padding of shorter rows."""
    kind, layer, index = int(kind), int(layer), int(index)
    if kind == HEAD:
        return f"{layer}.{index}"
    if kind == MLP:
        return f"mlp{layer}"
    if kind == NEURON:
        return f"n{layer}.{index}"
    return None


def parse(text):
    """(kind, layer, index) of a component name; ValueError naming the text otherwise."""
    text = str(text).strip()
    m = _HEAD_RE.match(text)
    if m:
        return HEAD, int(m.group(1)), int(m.group(2))
    m = _MLP_RE.match(text)
    if m:
        return MLP, int(m.group(1)), 0
    m = _NEURON_RE.match(text)
    if m:
        return NEURON, int(m.group(1)), int(m.group(2))
    raise ValueError(f"not a component name: {text!r} (expected a head 'L.H' such as '9.1', "
                     f"an MLP 'mlpL' or a neuron 'nL.I')")


def sort_key(text):
    """Order of the forward pass: by layer, heads before the layer's MLP, then by index."""
    kind, layer, index = parse(text)
    return (layer, 0 if kind == HEAD else (1 if kind == MLP else 2), index)


def sort(names):
    return sorted(names, key=sort_key)


def is_head(text):
    return parse(text)[0] == HEAD


def join(names):
    """Label of components ablated together: '9.1+4.4' (in the order stored)."""
    return "+".join(names)
