#!/usr/bin/env python3
"""Launches an albert-ner training job with the SageMaker Python SDK 3.x ModelTrainer (`pip install 'sagemaker>=3'`).

Local mode (docker compose on this machine, data from local_test/):
  python sagemaker/train_sdk3.py --local --image-uri localhost/albert-ner:dev
A real job on managed spot, checkpoints synced to S3 so an interrupted job resumes:
  python sagemaker/train_sdk3.py --image-uri ACCOUNT.dkr.ecr.REGION.amazonaws.com/albert-ner:latest \\
      --role arn:aws:iam::ACCOUNT:role/SageMakerRole --training s3://BUCKET/msra/train/ \\
      --validation s3://BUCKET/msra/dev/ --pretrained s3://BUCKET/albert_base_zh/ \\
      --output-path s3://BUCKET/albert-ner/output/ [--checkpoint-s3-uri s3://BUCKET/albert-ner/ckpt/]
SDK 3.x JSON-encodes hyperparameters (True arrives as "true") and passes no container command, so the image
trains by default (CMD ["train"]). Local artifacts: OUTPUT_PATH/compressed_artifacts/{model,output}.tar.gz.
Exit status 0 when the job completes; 1 with the trainer's failure reason when it fails.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402


def main() -> int:
    args = common.parser(__doc__.splitlines()[0], "local_cpu").parse_args()
    common.check_args(args, "local_cpu")

    from sagemaker.train import ModelTrainer
    from sagemaker.train.configs import (
        CheckpointConfig,
        Compute,
        InputData,
        MetricDefinition,
        OutputDataConfig,
        StoppingCondition,
    )
    from sagemaker.train.model_trainer import Mode

    hps = common.hyperparameters(args)
    spot = args.spot and not args.local
    kwargs = {}
    if args.local:
        # The SDK runs docker compose in local_container_root and leaves compressed_artifacts/ there.
        root = Path(args.output_path.removeprefix("file://"))
        root.mkdir(parents=True, exist_ok=True)
        kwargs["local_container_root"] = str(root)
    else:
        kwargs["output_data_config"] = OutputDataConfig(s3_output_path=args.output_path)
        # Managed spot: SageMaker syncs /opt/ml/checkpoints with this prefix, and a job restarted after an
        # interruption finds its checkpoints there again (the trainer resumes from them).
        kwargs["checkpoint_config"] = CheckpointConfig(s3_uri=args.checkpoint_s3_uri, local_path="/opt/ml/checkpoints")
    trainer = ModelTrainer(
        training_mode=Mode.LOCAL_CONTAINER if args.local else Mode.SAGEMAKER_TRAINING_JOB,
        training_image=args.image_uri,
        role=args.role,
        base_job_name=args.base_job_name,
        compute=Compute(
            instance_type=args.instance_type,
            instance_count=args.instance_count,
            volume_size_in_gb=args.volume_size,
            enable_managed_spot_training=spot or None,
        ),
        stopping_condition=StoppingCondition(
            max_runtime_in_seconds=args.max_run,
            max_wait_time_in_seconds=args.max_wait if spot else None,
        ),
        hyperparameters=hps,
        **kwargs,
    ).with_metric_definitions([MetricDefinition(name=m["Name"], regex=m["Regex"]) for m in common.METRIC_DEFINITIONS])

    # 3.x takes S3 URIs or plain local paths (not file:// URIs).
    inputs = [
        InputData(channel_name=name, data_source=uri.removeprefix("file://"))
        for name, uri in common.channels(args).items()
    ]
    print("hyperparameters:", json.dumps(hps), "\nchannels:", json.dumps(common.channels(args)), flush=True)
    try:
        trainer.train(input_data_config=inputs, wait=args.wait or args.local, logs=True)
    except Exception as err:  # local mode: RuntimeError; real jobs: the job's FailureReason in the error
        print(f"training job failed: {err}", file=sys.stderr)
        if args.local:
            out = common.newest(root / "compressed_artifacts", "output.tar.gz")
            if out is not None:
                print(f"failure reason: {common.failure_reason(out)}", file=sys.stderr)
        return 1
    if args.local:
        print("model artifacts:", root / "compressed_artifacts" / "model.tar.gz")
    else:
        job = trainer._latest_training_job
        print("training job:", job.training_job_name if job else "?")
    return 0


if __name__ == "__main__":
    sys.exit(main())
