#!/usr/bin/env python3
"""Launches an albert-ner training job with the SageMaker Python SDK 2.x (`pip install 'sagemaker<3'`).

Local mode (docker compose on this machine, data from local_test/):
  python sagemaker/train_sdk2.py --local --image-uri localhost/albert-ner:dev
A real job on managed spot, checkpoints synced to S3 so an interrupted job resumes:
  python sagemaker/train_sdk2.py --image-uri ACCOUNT.dkr.ecr.REGION.amazonaws.com/albert-ner:latest \\
      --role arn:aws:iam::ACCOUNT:role/SageMakerRole --training s3://BUCKET/msra/train/ \\
      --validation s3://BUCKET/msra/dev/ --pretrained s3://BUCKET/albert_base_zh/ \\
      --output-path s3://BUCKET/albert-ner/output/ [--checkpoint-s3-uri s3://BUCKET/albert-ner/ckpt/]
SDK 2.x sends hyperparameters through str(): 2e-5 arrives as "2e-05", True as "True".
Exit status 0 when the job completes; 1 with the trainer's failure reason when it fails.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")

import common  # noqa: E402


def main() -> int:
    args = common.parser(__doc__.splitlines()[0], "local").parse_args()
    common.check_args(args, "local")

    import sagemaker
    from sagemaker.estimator import Estimator

    if args.local:
        from sagemaker.local import LocalSession

        session = LocalSession()
    else:
        session = sagemaker.Session()

    hps = common.hyperparameters(args)
    kwargs = {}
    if not args.local:
        # Managed spot: SageMaker syncs /opt/ml/checkpoints with checkpoint_s3_uri, and a job restarted after
        # an interruption finds its checkpoints there again (the trainer resumes from them).
        kwargs = dict(
            checkpoint_s3_uri=args.checkpoint_s3_uri,
            use_spot_instances=args.spot,
            max_wait=args.max_wait if args.spot else None,
        )
    estimator = Estimator(
        image_uri=args.image_uri,
        role=args.role,
        instance_count=args.instance_count,
        instance_type=args.instance_type,
        volume_size=args.volume_size,
        max_run=args.max_run,
        output_path=args.output_path,
        base_job_name=args.base_job_name,
        hyperparameters=hps,
        metric_definitions=common.METRIC_DEFINITIONS,
        sagemaker_session=session,
        **kwargs,
    )
    inputs = common.channels(args)
    print("hyperparameters:", json.dumps(hps), "\nchannels:", json.dumps(inputs), flush=True)
    try:
        estimator.fit(inputs, wait=args.wait or args.local, logs="All")
    except Exception as err:  # local mode: RuntimeError; real jobs: UnexpectedStatusException with the reason
        print(f"training job failed: {err}", file=sys.stderr)
        if args.local:
            # The SDK moves model.tar.gz and output.tar.gz to OUTPUT_PATH/JOB_NAME/, also for failed jobs.
            root = Path(args.output_path.removeprefix("file://"))
            job = estimator.latest_training_job
            out = common.newest(root / job.name if job and (root / job.name).exists() else root, "output.tar.gz")
            if out is not None:
                print(f"failure reason: {common.failure_reason(out)}", file=sys.stderr)
        return 1
    if args.wait or args.local:
        print("model artifacts:", estimator.model_data)
    else:
        print("submitted:", estimator.latest_training_job.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
