"""The bad-input corpus: each case spoils a copy of a small competition folder (or gives a bad option) and runs one
command-line tool on it in this process, as its script does. Every case checks

- the exit code (2: a user error, 1: the tool's own "problems found", 0: handled, with a correct result);
- that a user error is one ``error:`` line naming the file, line or value at fault, and that nothing prints a
  traceback;
- that no input file changed (sha256 of every file before and after);
- that outputs are complete or absent: nothing at all is written on a user error, and no temporary file of an
  unfinished write is left.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Callable

import pytest

from .conftest import file_hashes, first_image, hanging_up_server, ignores_file_permissions, invoke, jpeg_claiming


@dataclass(frozen=True)
class Case:
    """``build(inp, out)`` spoils the folder ``inp`` (a copy of the small demo) and returns the tool's arguments
    (outputs go under ``out``); ``says``: what the message must name, with ``{inp}`` / ``{out}`` for those paths."""

    id: str
    tool: str
    build: Callable[[Path, Path], list]
    code: int
    says: tuple[str, ...]
    marks: tuple = field(default=())
    environment: dict = field(default_factory=dict)
    refused_leaves: tuple[str, ...] = ()  # fnmatch patterns of what a refused command may leave (a run's log)


def edit_csv(path: Path, change: Callable[[list[str]], list[str]]) -> None:
    lines = path.read_text().splitlines()
    path.write_text("\n".join(change(lines)) + "\n")


def set_field(line: str, index: int, value: str) -> str:
    fields = line.split(",")
    fields[index] = value
    return ",".join(fields)


def unreadable(path: Path) -> None:
    path.chmod(0o000)


AS_ROOT = pytest.mark.skipif(ignores_file_permissions(), reason="this process (root?) reads files without read "
                             "permission")


# ------------------------------------------------------------------------------------------ dataHandling.py validate

def validate(*extra):
    return lambda inp, out: ["validate", "--data-dir", inp, *extra]


def spoiled(change, *extra):
    def build(inp, out):
        change(inp)
        return ["validate", "--data-dir", inp, *extra]
    return build


DATA_CASES = [
    Case("make-demo-out-is-a-file", "data",
         lambda inp, out: ["make-demo", "--out", inp / "train.csv", "--train-images", 1, "--test-images", 1], 2,
         ("{inp}/train.csv", "exists already, and is not a folder")),
    Case("make-demo-negative-image-count", "data",
         lambda inp, out: ["make-demo", "--out", out, "--train-images", "-3"], 2,
         ("--train-images", "expected 0 or more, got -3")),
    Case("make-demo-negative-large-side", "data",
         lambda inp, out: ["make-demo", "--out", out, "--large-side", "-5"], 2,
         ("--large-side", "expected 0 or more, got -5")),
    Case("validate-no-such-folder", "data", lambda inp, out: ["validate", "--data-dir", inp / "nope"], 2,
         ("{inp}/nope/train.csv",)),
    Case("validate-train-csv-is-a-directory", "data",
         spoiled(lambda inp: ((inp / "train.csv").unlink(), (inp / "train.csv").mkdir())), 2,
         ("{inp}/train.csv: is a directory",)),
    Case("validate-train-csv-without-read-permission", "data", spoiled(lambda inp: unreadable(inp / "train.csv")), 2,
         ("{inp}/train.csv: permission denied",), marks=(AS_ROOT,)),
    Case("validate-train-csv-header-only", "data",
         spoiled(lambda inp: edit_csv(inp / "train.csv", lambda lines: lines[:1])), 2,
         ("{inp}/train.csv has a header but no annotation rows",)),
    Case("validate-train-csv-zero-bytes", "data", spoiled(lambda inp: (inp / "train.csv").write_bytes(b"")), 2,
         ("{inp}/train.csv",)),
    Case("validate-train-csv-wrong-columns", "data",
         spoiled(lambda inp: edit_csv(inp / "train.csv", lambda lines: ["Image,Pixels,H,W,Class"] + lines[1:])), 2,
         ("{inp}/train.csv", "ImageId")),
    Case("validate-train-csv-not-utf8", "data",
         spoiled(lambda inp: (inp / "train.csv").write_bytes((inp / "train.csv").read_bytes() + b"\xff\xfe,\xe9\n")),
         2, ("{inp}/train.csv",)),
    Case("validate-train-csv-ragged-row", "data",
         spoiled(lambda inp: edit_csv(inp / "train.csv", lambda lines: lines + [lines[1] + ",extra,fields"])), 2,
         ("{inp}/train.csv", "line")),
    Case("validate-odd-rle", "data",
         spoiled(lambda inp: edit_csv(inp / "train.csv", lambda lines: [lines[0], set_field(lines[1], 1, "1 2 3"),
                                                                        *lines[2:]])), 1,
         ("invalid_rle", "line 2", "odd number of values (3)")),
    Case("validate-rle-past-the-image", "data",
         spoiled(lambda inp: edit_csv(inp / "train.csv", lambda lines: [lines[0],
                                                                        set_field(lines[1], 1, "1 99999999"),
                                                                        *lines[2:]])), 1,
         ("invalid_rle", "line 2")),
    Case("validate-unknown-category", "data",
         spoiled(lambda inp: edit_csv(inp / "train.csv", lambda lines: [lines[0], set_field(lines[1], 4, "999"),
                                                                        *lines[2:]])), 1,
         ("unknown_category", "line 2")),
    Case("validate-negative-height", "data",
         spoiled(lambda inp: edit_csv(inp / "train.csv", lambda lines: [lines[0], set_field(lines[1], 2, "-5"),
                                                                        *lines[2:]])), 1,
         ("bad_size", "line 2")),
    Case("validate-bom-and-crlf", "data",
         spoiled(lambda inp: (inp / "train.csv").write_bytes(
             b"\xef\xbb\xbf" + (inp / "train.csv").read_bytes().replace(b"\n", b"\r\n"))), 0,
         ("no problems",)),
    Case("validate-zero-byte-image", "data", spoiled(lambda inp: first_image(inp).write_bytes(b"")), 1,
         ("unreadable_image", "{first_image}")),
    Case("validate-garbage-image", "data", spoiled(lambda inp: first_image(inp).write_bytes(os.urandom(2000))), 1,
         ("unreadable_image", "{first_image}")),
    Case("validate-png-named-jpg", "data",
         spoiled(lambda inp: _as_png(first_image(inp))), 0, ("no problems",)),
    Case("validate-check-pixels-truncated-image", "data",
         spoiled(lambda inp: first_image(inp).write_bytes(first_image(inp).read_bytes()[:600]), "--check-pixels"), 1,
         ("unreadable_image", "{first_image}")),
    Case("validate-check-pixels-20000x20000-header", "data",
         spoiled(lambda inp: jpeg_claiming(first_image(inp), 20000, 20000), "--check-pixels"), 1,
         ("unreadable_image", "{first_image} claims 20000x20000 = 400,000,000 pixels", "FASHION_SEG_MAX_IMAGE_PIXELS")),
    Case("validate-pixel-limit-lowered", "data", validate(), 1,
         ("unreadable_image", "{first_image}", "more than the limit of 1,000"),
         environment={"FASHION_SEG_MAX_IMAGE_PIXELS": "1000"}),
    Case("validate-pixel-limit-not-a-number", "data", validate(), 2,
         ("FASHION_SEG_MAX_IMAGE_PIXELS='lots'",), environment={"FASHION_SEG_MAX_IMAGE_PIXELS": "lots"}),
    Case("validate-missing-image", "data", spoiled(lambda inp: first_image(inp).unlink()), 1,
         ("missing_image", "{first_image.name}")),
    Case("validate-label-descriptions-not-json", "data",
         spoiled(lambda inp: (inp / "label_descriptions.json").write_text("{\"categories\": [")), 2,
         ("{inp}/label_descriptions.json is not valid JSON", "line 1")),
    Case("validate-label-descriptions-is-a-directory", "data",
         spoiled(lambda inp: ((inp / "label_descriptions.json").unlink(), (inp / "label_descriptions.json").mkdir())),
         2, ("{inp}/label_descriptions.json: is a directory",)),
    Case("validate-label-descriptions-without-read-permission", "data",
         spoiled(lambda inp: unreadable(inp / "label_descriptions.json")), 2,
         ("{inp}/label_descriptions.json: permission denied",), marks=(AS_ROOT,)),
    Case("validate-label-descriptions-no-categories", "data",
         spoiled(lambda inp: (inp / "label_descriptions.json").write_text(json.dumps({"attributes": []}))), 2,
         ("{inp}/label_descriptions.json",)),
    Case("validate-fix-onto-its-input", "data",
         lambda inp, out: ["validate", "--data-dir", inp, "--fix", inp / "train.csv"], 2,
         ("--fix {inp}/train.csv would overwrite the input",)),
    Case("stats-no-train-csv", "data",
         lambda inp, out: ((inp / "train.csv").unlink(), ["stats", "--data-dir", inp, "--out", out])[1], 2,
         ("{inp}/train.csv",)),
    Case("split-fraction-above-one", "data",
         lambda inp, out: ["split", "--data-dir", inp, "--val-fraction", "1.5", "--out", out], 2, ("1.5",)),
    Case("split-more-validation-images-than-images", "data",
         lambda inp, out: ["split", "--data-dir", inp, "--val-images", "50", "--out", out], 2, ("50",)),
    Case("prepare-max-side-too-small", "data",
         lambda inp, out: ["prepare", "--data-dir", inp, "--max-side", "10", "--out", out], 2,
         ("--max-side 10",)),
    Case("prepare-into-the-data-folder", "data",
         lambda inp, out: ["prepare", "--data-dir", inp, "--max-side", "64", "--out", inp], 2,
         ("another folder than the data",)),
    Case("prepare-20000x20000-header", "data",
         lambda inp, out: (jpeg_claiming(first_image(inp), 20000, 20000),
                           ["prepare", "--data-dir", inp, "--max-side", "64", "--out", out, "--workers", "1"])[1], 1,
         ("failed train/{first_image.name}", "claims 20000x20000")),
    Case("prepare-truncated-image", "data",
         lambda inp, out: (first_image(inp).write_bytes(first_image(inp).read_bytes()[:300]),
                           ["prepare", "--data-dir", inp, "--max-side", "64", "--out", out, "--workers", "1"])[1], 1,
         ("failed train/{first_image.name}",)),
    Case("prepare-negative-workers", "data",
         lambda inp, out: ["prepare", "--data-dir", inp, "--max-side", "64", "--out", out, "--workers", "-2"], 2,
         ("--workers -2",)),
    Case("stats-out-is-a-file", "data",
         lambda inp, out: ["stats", "--data-dir", inp, "--out", inp / "train.csv"], 2,
         ("{inp}/train.csv", "exists already, and is not a folder")),
    Case("perturb-out-below-a-file", "data",
         lambda inp, out: ["perturb", "--truth", inp / "test_truth.csv", "--out", inp / "train.csv" / "p.csv"], 2,
         ("cannot write {inp}/train.csv/p.csv: {inp}/train.csv: exists already, and is not a folder",)),
    Case("perturb-no-such-truth", "data",
         lambda inp, out: ["perturb", "--truth", inp / "none.csv", "--out", out / "p.csv"], 2,
         ("file not found: {inp}/none.csv",)),
    Case("score-size-7", "data",
         lambda inp, out: ["score", "--truth", inp / "test_truth.csv", "--submission", inp / "test_truth.csv",
                           "--size", "7"], 2, ("--size", "expected 512 or 'native', got '7'")),
    Case("score-submission-is-binary", "data",
         lambda inp, out: ((inp / "sub.csv").write_bytes(os.urandom(3000)),
                           ["score", "--truth", inp / "test_truth.csv", "--submission", inp / "sub.csv"])[1], 2,
         ("{inp}/sub.csv",)),
    Case("score-submission-without-classid", "data",
         lambda inp, out: ((inp / "sub.csv").write_text("ImageId,EncodedPixels\nx.jpg,1 2\n"),
                           ["score", "--truth", inp / "test_truth.csv", "--submission", inp / "sub.csv"])[1], 2,
         ("{inp}/sub.csv", "ClassId")),
    Case("score-truth-without-height", "data",
         lambda inp, out: ((inp / "truth.csv").write_text("ImageId,EncodedPixels,Width,ClassId\nx.jpg,1 2,5,1\n"),
                           ["score", "--truth", inp / "truth.csv", "--submission", inp / "test_truth.csv"])[1], 2,
         ("{inp}/truth.csv", "Height")),
    Case("score-labels-not-json", "data",
         lambda inp, out: ((inp / "labels.json").write_text("[1, 2"),
                           ["score", "--truth", inp / "test_truth.csv", "--submission", inp / "test_truth.csv",
                            "--labels", inp / "labels.json"])[1], 2, ("{inp}/labels.json is not valid JSON",)),
    Case("score-panels-without-image-dir", "data",
         lambda inp, out: ["score", "--truth", inp / "test_truth.csv", "--submission", inp / "test_truth.csv",
                           "--panels", out], 2, ("--panels needs --image-dir",)),
    Case("check-submission-wrong-header", "data",
         lambda inp, out: ((inp / "sub.csv").write_text("id,pixels,class\n"),
                           ["check-submission", "--submission", inp / "sub.csv", "--test-dir", inp / "test"])[1], 1,
         ("ImageId",)),
    Case("check-submission-missing-an-image", "data",
         lambda inp, out: (_submission_without_first(inp),
                           ["check-submission", "--submission", inp / "sub.csv", "--test-dir", inp / "test"])[1], 1,
         ("{first_test_image.name}",)),
    Case("check-submission-bad-rle", "data",
         lambda inp, out: (_submission_with(inp, "5 3 1 2"),
                           ["check-submission", "--submission", inp / "sub.csv", "--test-dir", inp / "test"])[1], 1,
         ("line 2", "out of order")),
    Case("check-submission-no-test-folder", "data",
         lambda inp, out: ["check-submission", "--submission", inp / "sample_submission.csv", "--test-dir",
                           inp / "nope"], 2, ("test folder not found: {inp}/nope",)),
    Case("shell-metacharacters-in-the-path", "data",
         lambda inp, out: ["validate", "--data-dir", inp / "$(touch pwned); `id`"], 2,
         ("{inp}/$(touch pwned); `id`/train.csv",)),
]


def _as_png(path: Path) -> None:
    import cv2

    image = cv2.imread(str(path))
    cv2.imwrite(str(path.with_suffix(".png")), image)
    path.unlink()
    path.with_suffix(".png").rename(path)


def _submission_without_first(inp: Path) -> None:
    lines = (inp / "sample_submission.csv").read_text().splitlines()
    name = min((inp / "test").glob("*.jpg")).name
    (inp / "sub.csv").write_text("\n".join(line for line in lines if not line.startswith(name)) + "\n")


def _submission_with(inp: Path, encoded: str) -> None:
    name = min((inp / "test").glob("*.jpg")).name
    others = sorted(p.name for p in (inp / "test").glob("*.jpg") if p.name != name)
    rows = [f"{name},{encoded},1"] + [f"{other},1 1,23" for other in others]
    (inp / "sub.csv").write_text("ImageId,EncodedPixels,ClassId\n" + "\n".join(rows) + "\n")


# ------------------------------------------------------------------------------------------------------- train.py

TRAIN_CASES = [
    Case("train-no-such-weights", "train",
         lambda inp, out: ["--weights", inp / "nope.h5", "--data-dir", inp, "--model-dir", out], 2,
         ("--weights {inp}/nope.h5: no such file",)),
    Case("train-unknown-profile", "train",
         lambda inp, out: ["--weights", "none", "--profile", "nosuch", "--data-dir", inp, "--model-dir", out], 2,
         ("no profile 'nosuch'",)),
    Case("train-set-without-value", "train",
         lambda inp, out: ["--weights", "none", "--set", "LEARNING_RATE", "--data-dir", inp, "--model-dir", out], 2,
         ("--set 'LEARNING_RATE'", "KEY=VALUE")),
    Case("train-bad-stage", "train",
         lambda inp, out: ["--weights", "none", "--stages", "heads:x", "--data-dir", inp, "--model-dir", out], 2,
         ("stage 'heads:x'",)),
    Case("train-no-competition-folder", "train",
         lambda inp, out: ["--weights", "none", "--data-dir", inp / "nope", "--model-dir", out], 2,
         ("{inp}/nope/train.csv not found",)),
    Case("train-last-without-any-run", "train",
         lambda inp, out: ["--weights", "last", "--data-dir", inp, "--model-dir", out], 2,
         ("--weights last: no checkpoint", "under {out}")),
    Case("train-decay-epochs-not-numbers", "train",
         lambda inp, out: ["--weights", "none", "--decay-epochs", "x", "--data-dir", inp, "--model-dir", out], 2,
         ("--decay-epochs 'x': expected comma-separated numbers",)),
    Case("train-multiscale-not-numbers", "train",
         lambda inp, out: ["--weights", "none", "--multiscale", "big", "--data-dir", inp, "--model-dir", out], 2,
         ("--multiscale 'big'",)),
    Case("train-multiscale-reversed", "train",
         lambda inp, out: ["--weights", "none", "--multiscale", "5,3", "--data-dir", inp, "--model-dir", out], 2,
         ("(5, 3)",)),
    Case("train-split-folder-missing", "train",
         lambda inp, out: ["--weights", "none", "--split", inp / "nosplit", "--data-dir", inp, "--model-dir", out],
         2, ("{inp}/nosplit/train_ids.txt not found",), refused_leaves=("out/fashion*/train.log",)),
    Case("train-validation-fraction-2", "train",
         lambda inp, out: ["--weights", "none", "--val-fraction", "2", "--data-dir", inp, "--model-dir", out], 2,
         ("2.0",)),
    Case("train-image-dir-missing", "train",
         lambda inp, out: ["--weights", "none", "--profile", "demo", "--val-fraction", "0.3", "--data-dir", inp,
                           "--image-dir", inp / "nocache", "--model-dir", out], 2,
         ("image folder {inp}/nocache does not exist",)),
    Case("train-image-dir-without-the-images", "train",
         lambda inp, out: ((inp / "other").mkdir(),
                           ["--weights", "none", "--profile", "demo", "--val-fraction", "0.3", "--data-dir", inp,
                            "--image-dir", inp / "other", "--model-dir", out])[1], 2,
         ("is in {inp}/other",)),
    Case("train-cpu-devices-negative", "train",
         lambda inp, out: ["--weights", "none", "--cpu-devices", "-1", "--data-dir", inp, "--model-dir", out], 2,
         ("-1",)),
]

# ----------------------------------------------------------------------------------------------------- predict.py

PREDICT_CASES = [
    Case("predict-no-image-folder", "predict",
         lambda inp, out: [inp / "nope", "--weights", inp / "nope.h5", "--out", out / "s.csv"], 2,
         ("test folder not found: {inp}/nope",)),
    Case("predict-no-such-weights", "predict",
         lambda inp, out: [inp / "test", "--weights", inp / "nope.h5", "--out", out / "s.csv"], 2,
         ("weights file not found: {inp}/nope.h5",)),
    Case("predict-last-without-any-run", "predict",
         lambda inp, out: [inp / "test", "--weights", "last", "--model-dir", out / "logs", "--out", out / "s.csv"], 2,
         ("no checkpoint of 'fashion' under {out}/logs",)),
    Case("predict-size-7", "predict",
         lambda inp, out: [inp / "test", "--weights", inp / "w.h5", "--size", "7", "--out", out / "s.csv"], 2,
         ("--size", "got '7'")),
    Case("predict-unknown-tta", "predict",
         lambda inp, out: [inp / "test", "--weights", inp / "w.h5", "--tta", "spin", "--out", out / "s.csv"], 2,
         ("--tta 'spin'",)),
    Case("predict-preset-not-json", "predict",
         lambda inp, out: ((inp / "preset.json").write_text("{bad"),
                           [inp / "test", "--weights", inp / "w.h5", "--preset", inp / "preset.json", "--out",
                            out / "s.csv"])[1], 2, ("preset file {inp}/preset.json is not valid JSON",)),
    Case("predict-batch-size-0", "predict",
         lambda inp, out: [inp / "test", "--weights", inp / "w.h5", "--batch-size", "0", "--out", out / "s.csv"], 2,
         ("--batch-size must be at least 1, got 0",)),
    Case("predict-min-score-negative", "predict",
         lambda inp, out: [inp / "test", "--weights", inp / "w.h5", "--min-score", "-1", "--out", out / "s.csv"], 2,
         ("min_score=-1.0",)),
    Case("predict-drop-categories-not-ids", "predict",
         lambda inp, out: [inp / "test", "--weights", inp / "w.h5", "--drop-categories", "x", "--out",
                           out / "s.csv"], 2, ("category list 'x'",)),
    Case("predict-unknown-preset", "predict",
         lambda inp, out: [inp / "test", "--weights", inp / "w.h5", "--preset", "nosuch", "--out", out / "s.csv"], 2,
         ("no preset 'nosuch'",)),
    Case("predict-evaluate-truth-missing", "predict",
         lambda inp, out: [inp / "test", "--weights", inp / "w.h5", "--evaluate", "--truth", inp / "none.csv",
                           "--out", out / "s.csv"], 2, ("file not found: {inp}/none.csv",)),
    Case("predict-set-without-value", "predict",
         lambda inp, out: [inp / "test", "--weights", inp / "w.h5", "--set", "X", "--out", out / "s.csv"], 2,
         ("--set 'X'",)),
]


# ----------------------------------------------------------------------------------------------- DGX_ssh_comm.py

def remote(*argv):
    def build(inp, out):
        (inp / "ssh_config").write_text("")
        return ["--ssh-config", inp / "ssh_config", "--known-hosts", inp / "known_hosts", "--connect-timeout", "5",
                "--user", "nobody", *argv, "status"]
    return build


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


REMOTE_CASES = [
    Case("remote-unresolvable-host", "remote", remote("--host", "no-such-host.invalid"), 2,
         ("cannot resolve host name 'no-such-host.invalid'",)),
    Case("remote-closed-port", "remote", lambda inp, out: remote("--host", "127.0.0.1", "--port", str(_closed_port()))(
        inp, out), 2, ("connection refused by 127.0.0.1:",)),
    Case("remote-port-is-not-ssh", "remote",
         lambda inp, out: remote("--host", "127.0.0.1", "--port", str(hanging_up_server()))(inp, out), 2,
         ("is not an SSH server", "check --port")),
    Case("remote-bad-port-number", "remote", remote("--host", "127.0.0.1", "--port", "ssh"), 2,
         ("--port", "'ssh'")),
]

CASES = DATA_CASES + TRAIN_CASES + PREDICT_CASES + REMOTE_CASES


def placeholders(inp: Path, out: Path) -> dict:
    return {"inp": inp, "out": out, "first_image": first_image(inp) if (inp / "train").is_dir() else None,
            "first_test_image": first_image(inp, "test") if (inp / "test").is_dir() else None}


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_input(case, small_demo, tmp_path, monkeypatch):
    for name, value in case.environment.items():
        monkeypatch.setenv(name, value)
    inp, out = tmp_path / "in", tmp_path / "out"
    shutil.copytree(small_demo, inp)
    names = placeholders(inp, out)  # before the case may remove them
    argv = case.build(inp, out)
    before = file_hashes(tmp_path)
    code, stdout, stderr = invoke(case.tool, argv)
    after = file_hashes(tmp_path)
    for path in inp.rglob("*"):  # give back what a case made unreadable
        if path.is_file():
            path.chmod(0o644)
    says = [text.format(**names) for text in case.says]

    assert code == case.code, (stdout, stderr)
    assert "Traceback" not in stderr and "Traceback" not in stdout
    if code == 2:
        errors = [line for line in stderr.splitlines() if "error:" in line]
        assert len(errors) == 1, stderr
        for text in says:
            assert text in errors[0], (text, errors[0])
    else:
        for text in says:
            assert text in stdout + stderr, (text, stdout, stderr)

    assert {k: v for k, v in after.items() if k in before} == before  # no input changed
    written = sorted(set(after) - set(before))
    assert not [name for name in written if Path(name).name.startswith(".") and ".tmp" in name]
    if code == 2:  # a refused command writes nothing (but the log of the run it refused)
        assert [name for name in written if not any(fnmatch(name, p) for p in case.refused_leaves)] == []
    assert all(name.startswith("out/") for name in written), written
    assert not (inp / "pwned").exists()
    if os.environ.get("SHOW_CORPUS"):
        print(f"\n{case.id}: {code}: {(stderr.strip().splitlines() or [''])[-1][:300]} | {stdout.strip()[-200:]}")
