#!/usr/bin/python3
"""Writes the genuine `torch.save` fixtures that tests/test_torch_checkpoint.cpp reads.

Run with Debian's Python and its python3-torch (real torch 1.13; not a project dependency):

    apt-get install -y python3-torch
    /usr/bin/python3 tests/data/make_torch_checkpoints.py

Everything lands in tests/data/torch_checkpoints/ (committed; < 1 MB in all). The values every test checks are
written to expected.json by this script from Python torch itself, so the C++ side checks against an independent
reading. The script is deterministic (fixed seed, fixed zip times): re-running it rewrites the same bytes.
"""

import collections
import io
import json
import pathlib
import shutil
import struct
import zipfile

import torch

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "torch_checkpoints"
GPT2 = HERE.parents[2] / "shared" / "fixtures" / "hf" / "gpt2"

SAFETENSORS_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64}


def read_safetensors(path):
    """name -> tensor, in header order, parsed with json + struct (there is no safetensors package here)."""
    blob = path.read_bytes()
    (header_len,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + header_len], object_pairs_hook=collections.OrderedDict)
    data = blob[8 + header_len :]
    tensors = collections.OrderedDict()
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = bytearray(data[begin:end])
        flat = torch.frombuffer(raw, dtype=SAFETENSORS_DTYPES[info["dtype"]]) if raw else torch.empty(0)
        tensors[name] = flat.reshape(info["shape"]).clone()
    return tensors


def hf_metadata(names):
    """What `nn.Module.state_dict()` attaches as `_metadata`: one {'version': 1} per module prefix."""
    prefixes = {""}
    for name in names:
        parts = name.split(".")[:-1]
        prefixes.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return collections.OrderedDict((p, {"version": 1}) for p in sorted(prefixes))


def describe(tensor):
    """The facts the C++ test checks for one tensor: dtype, shape, strides, storage offset and every value."""
    values = tensor.detach()
    if values.dtype in (torch.bfloat16, torch.float16):
        values = values.float()  # exactly representable; tolist() does not take these dtypes
    return {
        "dtype": str(tensor.dtype).removeprefix("torch."),
        "shape": list(tensor.shape),
        "stride": list(tensor.stride()),
        "storage_offset": tensor.storage_offset(),
        "values": values.reshape(-1).tolist() if values.dim() else [values.item()],
    }


def save_zip(path, entries, compression=zipfile.ZIP_STORED):
    """A zip archive written by Python's zipfile: not 64-byte aligned, unlike torch.save's own writer."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # a fixed time: reproducible bytes
            info.compress_type = compression
            archive.writestr(info, data)


def rewrite_zip(source, target, edit, compression=zipfile.ZIP_STORED):
    """Copies a torch.save archive entry by entry, letting `edit(name, data)` change or drop (None) an entry."""
    with zipfile.ZipFile(source) as archive:
        entries = [(info.filename, edit(info.filename, archive.read(info.filename))) for info in archive.infolist()]
    save_zip(target, [(n, d) for n, d in entries if d is not None], compression)


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    expected = {}

    # (a) The GPT-2 fixture as HF's save_pretrained(safe_serialization=False) writes it: an OrderedDict with
    # `_metadata`, saved to a file named pytorch_model.bin (so its archive prefix is `pytorch_model/`).
    (OUT / "gpt2").mkdir()
    gpt2 = read_safetensors(GPT2 / "model.safetensors")
    state = collections.OrderedDict(gpt2)
    state._metadata = hf_metadata(gpt2.keys())
    torch.save(state, OUT / "gpt2" / "pytorch_model.bin")
    shutil.copyfile(GPT2 / "config.json", OUT / "gpt2" / "config.json")

    torch.manual_seed(1234)

    # (b) One entry: Python pickles a dict batch of exactly one item with the single SETITEM opcode.
    one = {"only.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3) / 4}
    torch.save(one, OUT / "one_entry.bin")
    expected["one_entry.bin"] = {"names": list(one), "tensors": {k: describe(v) for k, v in one.items()}}

    # (c) Every storage class, views and sharing, edge shapes, a Parameter and a non-tensor entry (skipped).
    base = torch.randn(3, 4)
    shared = torch.arange(10, dtype=torch.float32)
    dtypes = collections.OrderedDict()
    dtypes["f32"] = torch.randn(2, 3)
    dtypes["f64"] = torch.randn(3, dtype=torch.float64)
    dtypes["bf16"] = torch.randn(2, 3).to(torch.bfloat16)
    dtypes["f16"] = torch.randn(4).to(torch.float16)
    dtypes["i64"] = torch.tensor([-(2**40) - 3, 0, 2**40 + 7], dtype=torch.int64)
    dtypes["i32"] = torch.tensor([[-5, 6], [7, -8]], dtype=torch.int32)
    dtypes["i16"] = torch.tensor([-300, 300], dtype=torch.int16)
    dtypes["i8"] = torch.tensor([-128, 127, 0], dtype=torch.int8)
    dtypes["u8"] = torch.tensor([0, 255, 17], dtype=torch.uint8)
    dtypes["bool"] = torch.tensor([True, False, True, True])
    dtypes["transposed"] = base.t()  # strides (1, 4) over base's storage
    dtypes["base"] = base
    dtypes["shared_a"] = shared[0:4]  # two views of one storage at offsets 0 and 4
    dtypes["shared_b"] = shared[4:10].view(2, 3)
    dtypes["scalar"] = torch.tensor(3.5)
    dtypes["empty"] = torch.zeros(0, 5)
    dtypes["param"] = torch.nn.Parameter(torch.randn(2, 2))
    dtypes["step"] = 7
    buffer = io.BytesIO()  # saved through a buffer, so its archive prefix is `archive/`
    torch.save(dtypes, buffer)
    (OUT / "dtypes.bin").write_bytes(buffer.getvalue())
    tensors = {k: v for k, v in dtypes.items() if isinstance(v, torch.Tensor)}
    expected["dtypes.bin"] = {
        "names": list(tensors),
        "tensors": {k: describe(v) for k, v in tensors.items()},
        "shared_storage": [["shared_a", "shared_b"], ["transposed", "base"]],
    }

    # The same archive deflated by zipfile: its records cannot be viewed in place, so they are read.
    rewrite_zip(OUT / "dtypes.bin", OUT / "compressed.bin", lambda name, data: data, zipfile.ZIP_DEFLATED)
    expected["compressed.bin"] = expected["dtypes.bin"]

    # A training checkpoint of exactly the shape {"state_dict": {...}}: unwrapped to the inner state dict.
    nested = {"state_dict": collections.OrderedDict(w=torch.tensor([1.0, -2.0]), b=torch.tensor([0.5]))}
    torch.save(nested, OUT / "nested.bin")
    inner = nested["state_dict"]
    expected["nested.bin"] = {"names": list(inner), "tensors": {k: describe(v) for k, v in inner.items()}}

    # (d) Bad files. A pickle naming os.system, written opcode by opcode (never unpickled here):
    # PROTO 2, GLOBAL 'os system', BINUNICODE 'true', TUPLE1, REDUCE, STOP.
    evil = b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00true\x85R."
    save_zip(OUT / "forbidden_global.bin", [("archive/data.pkl", evil), ("archive/version", b"3\n")])
    # A protocol-0 INST opcode ('i'), which torch.save never writes.
    inst = b"\x80\x02(i__main__\nThing\n."
    save_zip(OUT / "bad_opcode.bin", [("archive/data.pkl", inst), ("archive/version", b"3\n")])
    # A storage record dropped, and one cut short of what its tensor needs.
    rewrite_zip(OUT / "one_entry.bin", OUT / "missing_storage.bin",
                lambda name, data: None if name.endswith("/data/0") else data)
    rewrite_zip(OUT / "one_entry.bin", OUT / "short_storage.bin",
                lambda name, data: data[:8] if name.endswith("/data/0") else data)
    # The first half of a genuine archive (its central directory is at the end, so nothing can be located).
    genuine = (OUT / "dtypes.bin").read_bytes()
    (OUT / "truncated.bin").write_bytes(genuine[: len(genuine) // 2])

    (OUT / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
