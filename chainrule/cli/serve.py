"""`chainrule serve`: the local web app over trained models (`chainrule.app`)."""

from __future__ import annotations

import argparse
import ipaddress
import socket

from chainrule.cli.common import add_device, check_device
from chainrule.errors import ConfigError

DEFAULT_MODELS = (  # the zoo's image, text and audio models, and its upscaler
    "zoo:made-fashion-mnist-binary",
    "zoo:gated-pixelcnn-fashion-mnist",
    "zoo:transformer-shakespeare",
    "zoo:wavenet-speech",
    "zoo:gated-pixelcnn-fashion-mnist-lowres4",
)
INSTALL = "the web app needs FastAPI and uvicorn: pip install 'chainrule[app]' (setup.sh installs them)"


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "serve",
        help="a local web app: sample, complete a painted region, score, compress, continue text, generate audio",
        description="Serve RUN... (run directories or zoo:NAME) in the browser at http://HOST:PORT. Default: the "
        f"zoo's image, text and audio models ({', '.join(DEFAULT_MODELS)}).",
    )
    p.add_argument("runs", nargs="*", metavar="RUN", help="run directories or zoo:NAME (default: the zoo's models)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 opens it to the network)",
    )
    add_device(p)
    p.set_defaults(run=run)


def build(runs: list[str], device: str = "cpu"):
    """The app over `runs` (the defaults when empty).

    Raises:
        ConfigError: FastAPI missing; ChainruleError: a run that cannot be loaded or shown."""
    try:
        from chainrule.app.server import create_app
    except ImportError:
        raise ConfigError(INSTALL) from None
    from chainrule.app.served import serve

    names = list(dict.fromkeys(runs or DEFAULT_MODELS))
    return create_app([serve(name, device) for name in names])


def check_address(host: str, port: int) -> None:
    """Refuse a port out of range or one already taken, with one line.

    Raises:
        ConfigError: either."""
    if not 1 <= port <= 65535:
        raise ConfigError(f"--port {port}: choose 1..65535")
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        family = socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            raise ConfigError(f"cannot listen on {host}:{port} ({err.strerror}): choose another --port") from None


def run(args: argparse.Namespace) -> int:
    check_device(args.device)
    check_address(args.host, args.port)
    app = build(args.runs, args.device)
    try:
        import uvicorn
    except ImportError:
        raise ConfigError(INSTALL) from None
    where = f"http://{'[' + args.host + ']' if ':' in args.host else args.host}:{args.port}"
    print(f"chainrule app at {where} (Ctrl-C stops it)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
