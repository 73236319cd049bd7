"""``omlsvc local score``: score records or an image with a deployment, in this process."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from omlsvc.cli.context import SubParsers, act_as, add_user_option, scoring_services
from omlsvc.core.errors import InvalidInput

if TYPE_CHECKING:
    from omlsvc.config import Settings


def add_score_command(commands: SubParsers) -> None:
    score = commands.add_parser("score", help="score records or an image with a deployment")
    score.add_argument("uri")
    given = score.add_mutually_exclusive_group(required=True)
    given.add_argument("--json", type=Path, help='a JSON file holding {"inputRecords": [...], "topN": N}')
    given.add_argument("--image", type=Path, help="an image file, for image models")
    score.add_argument("--top-n", type=int, help="the best N classes or clusters")
    score.set_defaults(handler=_score)
    add_user_option(score)


def _score(args: argparse.Namespace, settings: Settings) -> int:
    from omlsvc.rest.web import parse_json

    body: object = {}
    with scoring_services(settings) as services:
        principal = act_as(services, args.user)
        if args.image is not None:
            results = services.scoring.score_images(
                principal, args.uri, [args.image.read_bytes()], args.top_n
            )
        else:
            body = parse_json(args.json.read_bytes())
            if not isinstance(body, dict):
                raise InvalidInput("The JSON file must hold an object with inputRecords.")
            if args.top_n is not None:
                body["topN"] = args.top_n
            results = services.scoring.score_records(principal, args.uri, body)
    key = "tensors" if isinstance(body, dict) and "outputTensors" in body else "scoringResults"
    print(json.dumps({key: results}, indent=2))
    return 0
