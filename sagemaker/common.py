"""What the SDK 2.x and 3.x launch scripts share: metric regexes, default hyperparameters, flags, artifacts.

Imports nothing from the SageMaker SDK, so that tests can check the regexes against real log lines without it.
"""

from __future__ import annotations

import argparse
import json
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEST_DIR = REPO / "local_test" / "test_dir"

# The trainer prints, every N steps and per evaluation, plain lines such as
#   train: epoch=1 step=50/750 loss=2.3456 lr=4.8e-05 samples_per_s=123.4 eta=0:03:12
#   eval: epoch=1 step=250 entity_precision=0.8123 entity_recall=0.8011 entity_f1=0.8067 loss=0.1234 ...
#   test: epoch=0 step=750 entity_precision=0.8201 entity_recall=0.8105 entity_f1=0.8153 loss=0.1102 ...
# SageMaker applies each regex to every log line and records the first group (CloudWatch, the console).
_NUM = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
METRIC_DEFINITIONS = [
    {"Name": "train:loss", "Regex": r"\btrain: .*\bloss=" + _NUM},
    {"Name": "train:lr", "Regex": r"\btrain: .*\blr=" + _NUM},
    {"Name": "train:samples_per_s", "Regex": r"\btrain: .*\bsamples_per_s=" + _NUM},
    {"Name": "eval:entity_precision", "Regex": r"\beval: .*\bentity_precision=" + _NUM},
    {"Name": "eval:entity_recall", "Regex": r"\beval: .*\bentity_recall=" + _NUM},
    {"Name": "eval:entity_f1", "Regex": r"\beval: .*\bentity_f1=" + _NUM},
    {"Name": "eval:loss", "Regex": r"\beval: .*\bloss=" + _NUM},
    # After training, on the test channel (when given), with the best model:
    {"Name": "test:entity_precision", "Regex": r"\btest: .*\bentity_precision=" + _NUM},
    {"Name": "test:entity_recall", "Regex": r"\btest: .*\bentity_recall=" + _NUM},
    {"Name": "test:entity_f1", "Regex": r"\btest: .*\bentity_f1=" + _NUM},
    # task=pretrain, on the held-out text:
    {"Name": "pretrain_eval:loss", "Regex": r"\bpretrain_eval: .*\bloss=" + _NUM},
    {"Name": "pretrain_eval:perplexity", "Regex": r"\bpretrain_eval: .*\bperplexity=" + _NUM},
    {"Name": "pretrain_eval:mlm_accuracy", "Regex": r"\bpretrain_eval: .*\bmlm_accuracy=" + _NUM},
    {"Name": "pretrain_eval:sop_accuracy", "Regex": r"\bpretrain_eval: .*\bsop_accuracy=" + _NUM},
]

# Relative paths resolve in the image's working directory /opt/program (docker/Dockerfile).
# Real jobs: albert_base_zh, its TensorFlow checkpoint coming through the `pretrained` channel.
REAL_HYPERPARAMETERS = {
    "bert_config_file": "albert_base_zh/albert_config_base.json",
    "vocab_file": "albert_config/vocab.txt",
    "max_seq_length": 128,
    "train_batch_size": 32,
    "learning_rate": 2e-5,
    "num_train_epochs": 3,
    "seed": 42,
}
# Local mode: the tiny config from scratch on the committed MSRA sample, as local_test/test_dir does.
LOCAL_HYPERPARAMETERS = json.loads((TEST_DIR / "input" / "config" / "hyperparameters.json").read_text())


def parse_value(text: str):
    """`3` -> 3, `2e-5` -> 2e-05, `true` -> True, anything that is not JSON stays a string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def hyperparameters(args) -> dict:
    hps = dict(LOCAL_HYPERPARAMETERS if args.local else REAL_HYPERPARAMETERS)
    for item in args.hp:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--hp wants KEY=VALUE, got {item!r}")
        hps[key] = parse_value(value)
    return hps


def file_uri(path: Path) -> str:
    return "file://" + str(path.resolve())


def parser(description: str, local_instance_type: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--image-uri", required=True, help="ECR image URI (build_and_push.sh prints it), or a local tag")
    p.add_argument("--local", action="store_true",
                   help=f"SageMaker local mode (instance type {local_instance_type}): docker compose on this "
                        "machine; data and output default to local_test/ and target/sagemaker-local/")
    p.add_argument("--role", help="SageMaker execution role ARN (required unless --local)")
    p.add_argument("--instance-type", default=None,
                   help=f"default ml.g5.xlarge, or {local_instance_type} with --local")
    p.add_argument("--instance-count", type=int, default=1)
    p.add_argument("--volume-size", type=int, default=30, help="GB of EBS for the job")
    p.add_argument("--training", help="training channel: s3://... prefix (file:// with --local)")
    p.add_argument("--validation", help="validation channel (optional)")
    p.add_argument("--test", help="test channel (optional)")
    p.add_argument("--pretrained", help="pretrained channel: the albert_zh checkpoint (optional)")
    p.add_argument("--output-path", help="s3:// prefix for model.tar.gz and output.tar.gz (file:// with --local)")
    p.add_argument("--checkpoint-s3-uri", help="s3:// prefix synced with /opt/ml/checkpoints (resumes after spot "
                                               "interruptions); default OUTPUT_PATH/checkpoints")
    p.add_argument("--no-spot", dest="spot", action="store_false", help="on-demand instead of managed spot")
    p.add_argument("--max-run", type=int, default=24 * 3600, help="seconds of training at most")
    p.add_argument("--max-wait", type=int, default=None,
                   help="seconds of training plus waiting for spot capacity at most (default 2 x max-run)")
    p.add_argument("--base-job-name", default="albert-ner")
    p.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE",
                   help="set or override a hyperparameter (repeatable); the value is parsed as JSON when it can be")
    p.add_argument("--no-wait", dest="wait", action="store_false", help="submit and return (real jobs)")
    return p


def check_args(args, local_instance_type: str) -> None:
    if args.local:
        args.instance_type = args.instance_type or local_instance_type
        args.role = args.role or "arn:aws:iam::111111111111:role/local-mode-unused"
        data = TEST_DIR / "input" / "data"
        args.training = args.training or file_uri(data / "training")
        args.validation = args.validation or file_uri(data / "validation")
        out = REPO / "target" / "sagemaker-local"
        out.mkdir(parents=True, exist_ok=True)
        args.output_path = args.output_path or file_uri(out)
    else:
        args.instance_type = args.instance_type or "ml.g5.xlarge"
        missing = [f"--{n.replace('_', '-')}" for n in ("role", "training", "output_path") if not getattr(args, n)]
        if missing:
            raise SystemExit("a real job needs " + ", ".join(missing))
        args.checkpoint_s3_uri = args.checkpoint_s3_uri or args.output_path.rstrip("/") + "/checkpoints"
        args.max_wait = args.max_wait or 2 * args.max_run


def channels(args) -> dict[str, str]:
    names = ("training", "validation", "test", "pretrained")
    return {n: getattr(args, n) for n in names if getattr(args, n)}


def failure_reason(output_tar: Path) -> str | None:
    """First line of the `failure` file that the trainer wrote to /opt/ml/output, from output.tar.gz."""
    with tarfile.open(output_tar) as tar:
        for member in tar.getmembers():
            if Path(member.name).name == "failure" and member.isfile():
                text = tar.extractfile(member).read().decode("utf-8", "replace")
                return text.splitlines()[0] if text.strip() else ""
    return None


def newest(root: Path, name: str) -> Path | None:
    found = sorted(root.rglob(name), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None
