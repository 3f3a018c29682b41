#!/usr/bin/env python3
"""Build the small Russian <-> English Argos Translate packages used by tests and the demo.

It trains a genuine (tiny) neural model on the hand-written corpus in tools/argos_corpus/:
SentencePiece (one shared unigram vocabulary) + an OpenNMT-py Transformer (2+2 layers, width
128), converts it to CTranslate2 int8, adds a rule-based MiniSBD sentence splitter exported as
ONNX (so Argos never downloads one) and zips it the way argostranslate 1.11 expects:

    translate-ru_en-<version>/metadata.json, model/, sentencepiece.model, minisbd/ru.onnx

Requirements (a separate build venv; the service venv stays clean):

    python3 -m venv /work/build-venv
    /work/build-venv/bin/pip install torch==2.13.0          # first, CPU wheel
    /work/build-venv/bin/pip install opennmt-py==3.5.1 --no-deps   # pins torch<2.3, runs on 2.13
    /work/build-venv/bin/pip install pyonmttok configargparse six pyahocorasick rapidfuzz \
        sacrebleu fasttext-wheel spacy==3.8.18 ctranslate2==4.8.5 sentencepiece==0.2.3 onnx pyyaml

Run (6-14 minutes each on 2 cores, 4 minutes of CPU; wall time is noisy on shared machines):

    /work/build-venv/bin/python tools/build_argos_model.py --direction ru-en
    /work/build-venv/bin/python tools/build_argos_model.py --direction en-ru

which write monitor/analysis/data/models/translate-ru_en-1.0.argosmodel (and en_ru). The reverse model
exists so tests can exercise pivoting through English with real inference.

Deterministic: fixed seeds, one SentencePiece thread with relative paths, one torch thread,
sorted zip entries with fixed timestamps. Two full ru-en builds on the same machine gave
byte-identical .argosmodel files (another CPU type may round differently).
The model memorises its corpus; it is for tests and the demo, not for real news.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS_DIR = HERE / "argos_corpus"
sys.path.insert(0, str(CORPUS_DIR))

import templates  # noqa: E402  (tools/argos_corpus/templates.py)

VERSION = "1.0"
SEED = 1234
# Trailing characters that end a sentence, and closers that may follow them.
TERMINALS = ".!?…"
CLOSERS = "»\"')]”’"
OPENERS = "«\"“„(['‘"


def load_corpus(handwritten_repeat: int = 3) -> list[tuple[str, str]]:
    """Hand-written pairs (repeated, so they are memorised) plus the expanded templates."""
    pairs: list[tuple[str, str]] = []
    for line in (CORPUS_DIR / "handwritten.tsv").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        ru, en = line.split("\t")
        pairs.append((ru.strip(), en.strip()))
    pairs = pairs * handwritten_repeat + templates.expand(per_template=30)
    random.Random(SEED).shuffle(pairs)
    return pairs


# ---------------------------------------------------------------- sentence splitter (ONNX)

def build_splitter_onnx(path: Path, lang: str = "ru") -> None:
    """A rule-based MiniSBD model: a sentence ends at . ! ? … (optionally followed by a
    closing quote) when a space and then an upper-case letter, digit or opening quote follow,
    unless the full stop ends a one-letter abbreviation ("В. Путин", "2024 г.")."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    units = ["<PAD>", "<UNK>", " "]
    chars: set[str] = set(TERMINALS + CLOSERS + OPENERS + ",;:-–—0123456789")
    for lo, hi in ((0x41, 0x5A), (0x61, 0x7A), (0xC0, 0x24F), (0x400, 0x4FF)):
        chars.update(chr(c) for c in range(lo, hi + 1) if chr(c).isalpha())
    units += sorted(chars)
    unit2id = {u: i for i, u in enumerate(units)}

    def table(pred) -> np.ndarray:  # one float per unit id
        return np.array([1.0 if pred(u) else 0.0 for u in units], dtype=np.float32)

    is_term = table(lambda u: u in TERMINALS)
    is_close = table(lambda u: u in CLOSERS)
    is_space = table(lambda u: u == " ")
    is_starter = table(lambda u: len(u) == 1 and (u.isupper() or u.isdigit() or u in OPENERS))
    is_letter = table(lambda u: len(u) == 1 and u.isalpha())
    # "space or paragraph start" for the character two before the full stop
    is_space_or_pad = table(lambda u: u in (" ", "<PAD>"))

    nodes = []
    inits = [
        numpy_helper.from_array(t, name)
        for name, t in (("t_term", is_term), ("t_close", is_close), ("t_space", is_space),
                        ("t_starter", is_starter), ("t_letter", is_letter),
                        ("t_sp_pad", is_space_or_pad))
    ]
    inits += [
        numpy_helper.from_array(np.array([0], dtype=np.int64), "i0"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "i1"),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "im1"),
        numpy_helper.from_array(np.array([2**62], dtype=np.int64), "iend"),
        numpy_helper.from_array(np.array([0.0, 1.0, 2.0, 3.0, 4.0], dtype=np.float32), "classes"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one"),
    ]

    def gather(table_name: str, out: str) -> str:
        nodes.append(helper.make_node("Gather", [table_name, "units"], [out], axis=0))
        return out

    def shift_left(x: str, out: str) -> str:
        """y[:, i] = x[:, i+1], last column 0."""
        nodes.append(helper.make_node("Slice", [x, "i1", "iend", "i1"], [out + "_s"]))
        nodes.append(helper.make_node("Slice", [x, "i0", "i1", "i1"], [out + "_c"]))
        nodes.append(helper.make_node("Mul", [out + "_c", "zero_f"], [out + "_z"]))
        nodes.append(helper.make_node("Concat", [out + "_s", out + "_z"], [out], axis=1))
        return out

    def shift_right(x: str, out: str, fill_one: bool = False) -> str:
        """y[:, i] = x[:, i-1], first column 0 (or 1)."""
        nodes.append(helper.make_node("Slice", [x, "i0", "im1", "i1"], [out + "_s"]))
        nodes.append(helper.make_node("Slice", [x, "i0", "i1", "i1"], [out + "_c"]))
        nodes.append(helper.make_node("Mul", [out + "_c", "zero_f"], [out + "_z0"]))
        if fill_one:
            nodes.append(helper.make_node("Add", [out + "_z0", "one"], [out + "_z"]))
        else:
            nodes.append(helper.make_node("Identity", [out + "_z0"], [out + "_z"]))
        nodes.append(helper.make_node("Concat", [out + "_z", out + "_s"], [out], axis=1))
        return out

    inits.append(numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero_f"))
    term = gather("t_term", "term")
    close = gather("t_close", "close")
    space = gather("t_space", "space")
    starter = gather("t_starter", "starter")
    letter = gather("t_letter", "letter")
    sp_pad = gather("t_sp_pad", "sp_pad")

    space_n1 = shift_left(space, "space_n1")
    starter_n1 = shift_left(starter, "starter_n1")
    starter_n2 = shift_left(starter_n1, "starter_n2")
    term_p1 = shift_right(term, "term_p1")
    letter_p1 = shift_right(letter, "letter_p1")
    sp_pad_p1 = shift_right(sp_pad, "sp_pad_p1", fill_one=True)
    sp_pad_p2 = shift_right(sp_pad_p1, "sp_pad_p2", fill_one=True)

    # abbreviation: one letter standing alone before the full stop
    nodes.append(helper.make_node("Mul", [letter_p1, sp_pad_p2], ["abbr"]))
    nodes.append(helper.make_node("Sub", ["one", "abbr"], ["not_abbr"]))
    # rule A: terminal, space, starter, not an abbreviation
    nodes.append(helper.make_node("Mul", [term, space_n1], ["a1"]))
    nodes.append(helper.make_node("Mul", ["a1", starter_n2], ["a2"]))
    nodes.append(helper.make_node("Mul", ["a2", "not_abbr"], ["rule_a"]))
    # rule B: closer after a terminal, then space, starter
    nodes.append(helper.make_node("Mul", [close, term_p1], ["b1"]))
    nodes.append(helper.make_node("Mul", ["b1", space_n1], ["b2"]))
    nodes.append(helper.make_node("Mul", ["b2", starter_n2], ["rule_b"]))
    nodes.append(helper.make_node("Max", ["rule_a", "rule_b"], ["sent_end"]))
    # class = 1 (token end) where a space follows, 2 where a sentence ends
    nodes.append(helper.make_node("Add", [space_n1, "sent_end"], ["cls"]))
    nodes.append(helper.make_node("Unsqueeze", ["cls", "im1"], ["cls3"]))
    nodes.append(helper.make_node("Equal", ["cls3", "classes"], ["onehot_b"]))
    nodes.append(helper.make_node("Cast", ["onehot_b"], ["onehot"], to=TensorProto.FLOAT))
    # keep the (unused) features input connected: add 0 * sum(features)
    nodes.append(helper.make_node("ReduceSum", ["features"], ["fsum"], keepdims=0))
    nodes.append(helper.make_node("Mul", ["fsum", "zero_f"], ["fzero"]))
    nodes.append(helper.make_node("Add", ["onehot", "fzero"], ["logits"]))

    graph = helper.make_graph(
        nodes, "rule_sbd",
        [helper.make_tensor_value_info("units", TensorProto.INT64, ["B", "T"]),
         helper.make_tensor_value_info("features", TensorProto.FLOAT, ["B", "T", "F"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["B", "T", 5])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="news-monitor build_argos_model")
    model.ir_version = 8
    vocab_state = {"lang": lang, "idx": 0, "cutoff": 0, "lower": False,
                   "_unit2id": unit2id, "_id2unit": units}
    config = {"skip_newline": False, "max_seqlen": 1000, "no_ssplit": False,
              "batch_size": 32, "feat_funcs": [], "use_dictionary": False, "num_dict_feat": 0}
    for key, value in (("lang_code", lang), ("config", json.dumps(config)),
                       ("vocab", json.dumps(vocab_state, ensure_ascii=False)),
                       ("lexicon", "null")):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


# ---------------------------------------------------------------- training

def train_sentencepiece(work: Path, vocab_size: int) -> None:
    """Shared unigram vocabulary from work/spm_input.txt. Relative paths, because the model
    file records its trainer arguments: the same corpus then gives a byte-identical file."""
    import sentencepiece as spm

    cwd = os.getcwd()
    os.chdir(work)
    try:
        spm.SentencePieceTrainer.train(
            input="spm_input.txt", model_prefix="sentencepiece", vocab_size=vocab_size,
            model_type="unigram", character_coverage=1.0, num_threads=1,
            input_sentence_size=0, shuffle_input_sentence=False, byte_fallback=False,
            hard_vocab_limit=False, minloglevel=2,
        )
    finally:
        os.chdir(cwd)


def train(work: Path, pairs: list[tuple[str, str]], steps: int, vocab_size: int,
          threads: int = 1) -> Path:
    """SentencePiece + OpenNMT-py training; returns the last checkpoint."""
    import sentencepiece as spm

    src_raw, tgt_raw = work / "train.src", work / "train.tgt"
    src_raw.write_text("".join(a + "\n" for a, _ in pairs), encoding="utf-8")
    tgt_raw.write_text("".join(b + "\n" for _, b in pairs), encoding="utf-8")
    both = work / "spm_input.txt"
    both.write_text(src_raw.read_text(encoding="utf-8") + tgt_raw.read_text(encoding="utf-8"),
                    encoding="utf-8")
    train_sentencepiece(work, vocab_size)
    sp = spm.SentencePieceProcessor(model_file=str(work / "sentencepiece.model"))
    for raw, out in ((src_raw, work / "train.sp.src"), (tgt_raw, work / "train.sp.tgt")):
        lines = raw.read_text(encoding="utf-8").splitlines()
        out.write_text("".join(" ".join(sp.encode(x, out_type=str)) + "\n" for x in lines),
                       encoding="utf-8")
    # one shared vocabulary, straight from SentencePiece (ids 0-2 are <unk> <s> </s>)
    with open(work / "vocab.txt", "w", encoding="utf-8") as f:
        for i in range(3, sp.get_piece_size()):
            f.write(f"{sp.id_to_piece(i)}\t1\n")

    cfg = {
        "save_data": str(work / "run"),
        "src_vocab": str(work / "vocab.txt"), "tgt_vocab": str(work / "vocab.txt"),
        "share_vocab": True, "src_vocab_size": vocab_size + 10, "tgt_vocab_size": vocab_size + 10,
        "data": {"corpus_1": {"path_src": str(work / "train.sp.src"),
                              "path_tgt": str(work / "train.sp.tgt")}},
        "save_model": str(work / "model"), "save_checkpoint_steps": steps,
        "keep_checkpoint": 1, "seed": SEED, "train_steps": steps, "valid_steps": steps * 10,
        "report_every": 50, "bucket_size": 512, "num_workers": 0,
        "model_type": "text", "encoder_type": "transformer", "decoder_type": "transformer",
        "enc_layers": 2, "dec_layers": 2, "hidden_size": 128, "word_vec_size": 128,
        "transformer_ff": 512, "heads": 4, "position_encoding": True,
        "self_attn_type": "scaled-dot", "share_embeddings": True,
        "share_decoder_embeddings": True, "dropout": [0.1], "attention_dropout": [0.1],
        "label_smoothing": 0.1, "optim": "adam", "adam_beta2": 0.998,
        "learning_rate": 2.0, "decay_method": "noam", "warmup_steps": 400,
        "batch_type": "tokens", "batch_size": 1536, "accum_count": [1],
        "max_grad_norm": 0.0, "param_init": 0.0, "param_init_glorot": True,
        "normalization": "tokens", "src_seq_length": 200, "tgt_seq_length": 200,
    }
    import yaml
    (work / "train.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               PYTHONHASHSEED="0")
    bindir = Path(sys.executable).parent
    subprocess.run([str(bindir / "onmt_train"), "-config", str(work / "train.yaml")],
                   check=True, env=env, cwd=work)
    return work / f"model_step_{steps}.pt"


def convert(checkpoint: Path, out_dir: Path) -> None:
    """OpenNMT-py checkpoint -> CTranslate2 int8."""
    from ctranslate2.converters import OpenNMTPyConverter

    # Our own checkpoint: torch>=2.6 defaults to weights_only loads, which reject its options.
    OpenNMTPyConverter(str(checkpoint), unsafe_deserialization=True).convert(str(out_dir), quantization="int8", force=True)


# ---------------------------------------------------------------- packaging

def write_zip(src_dir: Path, top: str, out: Path) -> None:
    """A deterministic zip: sorted entries, fixed timestamps, one top-level folder."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in sorted(p for p in src_dir.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(f"{top}/{path.relative_to(src_dir).as_posix()}",
                                   date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())


NAMES = {"ru": "Russian", "en": "English"}


def package(work: Path, pairs: list[tuple[str, str]], out: Path, src: str, tgt: str) -> Path:
    top = f"translate-{src}_{tgt}-{VERSION.replace('.', '_')}"
    pkg = work / top
    if pkg.exists():
        shutil.rmtree(pkg)
    pkg.mkdir()
    convert(work / "last.pt", pkg / "model")
    shutil.copy(work / "sentencepiece.model", pkg / "sentencepiece.model")
    build_splitter_onnx(pkg / "minisbd" / f"{src}.onnx", lang=src)
    metadata = {
        "package_version": VERSION, "argos_version": "1.11.0", "type": "translate",
        "from_code": src, "from_name": NAMES[src], "to_code": tgt, "to_name": NAMES[tgt],
        "links": [],
        "news_monitor": {"test_model": True, "corpus_pairs": len(pairs),
                         "built_by": "tools/build_argos_model.py"},
    }
    (pkg / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    (pkg / "README.md").write_text(
        f"# news-monitor test model {src} -> {tgt}\n\n"
        "A tiny Transformer trained by tools/build_argos_model.py on a few hundred hand-written\n"
        "news sentences (leaders, visits, parades, sanctions, trade). It memorises its corpus and\n"
        "is meant for tests and the demo only; install a real Argos package for real news.\n",
        encoding="utf-8")
    write_zip(pkg, top, out)
    return pkg


def evaluate(pkg: Path, pairs: list[tuple[str, str]], probe: list[str]) -> dict[str, float]:
    """Exact-match rate on the training corpus and a few held-out recombinations."""
    import ctranslate2
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(pkg / "sentencepiece.model"))
    tr = ctranslate2.Translator(str(pkg / "model"), intra_threads=1)
    uniq = sorted(set(pairs))
    outs = tr.translate_batch([sp.encode(a, out_type=str) for a, _ in uniq],
                              beam_size=1, max_batch_size=64)
    exact = sum(sp.decode(o.hypotheses[0]) == b for o, (_, b) in zip(outs, uniq))
    for x, o in zip(probe, tr.translate_batch([sp.encode(x, out_type=str) for x in probe],
                                               beam_size=1)):
        print(f"  {x} -> {sp.decode(o.hypotheses[0])}")
    return {"corpus_pairs": len(uniq), "exact": exact, "exact_rate": exact / len(uniq)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--direction", choices=("ru-en", "en-ru"), default="ru-en")
    ap.add_argument("--out", type=Path, default=None,
                    help="default: monitor/analysis/data/models/translate-<src>_<tgt>-<version>.argosmodel")
    ap.add_argument("--steps", type=int, default=1400)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1 is fastest on a busy 2-core machine)")
    ap.add_argument("--vocab-size", type=int, default=1000)
    ap.add_argument("--work", type=Path, default=None, help="keep intermediate files here")
    ap.add_argument("--checkpoint", type=Path, default=None,
                    help="package this OpenNMT-py checkpoint (from --work) instead of training")
    args = ap.parse_args()

    random.seed(SEED)
    t0 = time.monotonic()
    work = args.work or Path(tempfile.mkdtemp(prefix="argos-build-"))
    work.mkdir(parents=True, exist_ok=True)
    src, tgt = args.direction.split("-")
    out = args.out or Path("monitor/analysis/data/models") / f"translate-{src}_{tgt}-{VERSION}.argosmodel"
    pairs = load_corpus()
    probe = ["Токаев прибыл в Москву на парад Победы.", "Рахмон посетит парад Победы в Москве.",
             "ЕС ввел новые санкции против Казахстана."]
    if src == "en":
        pairs = [(en, ru) for ru, en in pairs]
        probe = ["Tokayev arrived in Moscow for the Victory Day parade.",
                 "Rahmon will attend the Victory Day parade in Moscow.",
                 "The EU imposed new sanctions on Kazakhstan."]
    print(f"corpus: {len(pairs)} pairs ({len(set(pairs))} distinct)")
    if args.checkpoint is None:
        ckpt = train(work, pairs, args.steps, args.vocab_size, args.threads)
        shutil.copy(ckpt, work / "last.pt")
    elif args.checkpoint.resolve() != (work / "last.pt").resolve():
        shutil.copy(args.checkpoint, work / "last.pt")
    t_train = time.monotonic() - t0
    pkg = package(work, pairs, out.resolve(), src, tgt)
    scores = evaluate(pkg, pairs, probe)
    print(json.dumps({"out": str(out), "bytes": out.stat().st_size,
                      "train_s": round(t_train, 1),
                      "total_s": round(time.monotonic() - t0, 1), **scores}))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
