#!/usr/bin/env python3
"""Serves a trained albert-ner model with the SageMaker Python SDK 2.x: an endpoint, a batch transform, or both.

The image is the training image; SageMaker runs it as `serve` and unpacks MODEL_DATA into /opt/ml/model.
Local mode (docker compose on this machine):
  python sagemaker/deploy_sdk2.py --local --image-uri localhost/albert-ner:dev \\
      --model-data file://$PWD/target/sagemaker-local/JOB/model.tar.gz --predict '王小明在北京大学读书。'
  python sagemaker/deploy_sdk2.py --local --image-uri ... --model-data ... \\
      --transform-input file://$PWD/sentences.jsonl --output-path file://$PWD/target/transform
Real: --image-uri ECR_URI --role ROLE_ARN --model-data s3://.../model.tar.gz [--instance-type ml.c6i.xlarge].
An endpoint this script creates is deleted when it is done, unless --keep-endpoint.
Input for a transform: JSON lines, one {"text": ...} (or a JSON string) per line; the output has one
{"text", "entities"} line per input line (SplitType=Line, BatchStrategy=MultiRecord, AssembleWith=Line).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image-uri", required=True)
    p.add_argument("--model-data", required=True, help="model.tar.gz of a training job (s3://, or file:// locally)")
    p.add_argument("--local", action="store_true", help="SageMaker local mode (instance type `local`)")
    p.add_argument("--role", help="SageMaker execution role ARN (required unless --local)")
    p.add_argument("--instance-type", default=None, help="default ml.c6i.xlarge, or local with --local")
    p.add_argument("--predict", action="append", default=[], metavar="TEXT",
                   help="deploy an endpoint and tag TEXT (repeatable); prints the answer as JSON")
    p.add_argument("--transform-input", help="JSON lines to tag with a batch transform (s3:// or file://)")
    p.add_argument("--output-path", help="where the batch transform writes INPUT.out (s3:// or file://)")
    p.add_argument("--keep-endpoint", action="store_true")
    args = p.parse_args()
    if args.local:
        args.instance_type = args.instance_type or "local"
        args.role = args.role or "arn:aws:iam::111111111111:role/local-mode-unused"
    else:
        args.instance_type = args.instance_type or "ml.c6i.xlarge"
        if not args.role:
            raise SystemExit("a real deployment needs --role")
    if args.transform_input and not args.output_path:
        raise SystemExit("--transform-input needs --output-path")
    if not args.predict and not args.transform_input:
        raise SystemExit("give --predict TEXT and/or --transform-input URI")
    return args


def main() -> int:
    args = parse_args()
    import sagemaker
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.model import Model
    from sagemaker.predictor import Predictor
    from sagemaker.serializers import JSONSerializer

    if args.local:
        from sagemaker.local import LocalSession

        session = LocalSession()
        session.config = {"local": {"local_code": True}}
    else:
        session = sagemaker.Session()
    # predictor_cls: without it the base Model's deploy() returns None instead of a Predictor.
    model = Model(image_uri=args.image_uri, model_data=args.model_data, role=args.role, sagemaker_session=session,
                  predictor_cls=Predictor)

    if args.predict:
        predictor = model.deploy(initial_instance_count=1, instance_type=args.instance_type,
                                 serializer=JSONSerializer(), deserializer=JSONDeserializer())
        try:
            answer = predictor.predict({"inputs": args.predict})
            print("endpoint answer:", json.dumps(answer, ensure_ascii=False), flush=True)
        finally:
            if not args.keep_endpoint:
                predictor.delete_endpoint()

    if args.transform_input:
        transformer = model.transformer(instance_count=1, instance_type=args.instance_type,
                                        strategy="MultiRecord", assemble_with="Line",
                                        accept="application/jsonlines", output_path=args.output_path)
        transformer.transform(args.transform_input, content_type="application/jsonlines", split_type="Line",
                              wait=True, logs=not args.local)
        print("transform output:", args.output_path, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
