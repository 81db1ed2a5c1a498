#!/usr/bin/env python3
"""Train on a remote GPU workstation over SSH: push, launch, status, logs, fetch, stop, tunnel.

    python DGX_ssh_comm.py --host dgx push
    python DGX_ssh_comm.py --host dgx launch --docker -- python train.py --profile dgx --weights coco
    python DGX_ssh_comm.py --host dgx logs --follow
    python DGX_ssh_comm.py --host dgx fetch --what checkpoints

See README.md ("Remote training on a GPU workstation") and ``python DGX_ssh_comm.py COMMAND --help``.
"""

import sys

from fashion_seg.cli import run
from fashion_seg.remote.commands import main

if __name__ == "__main__":
    sys.exit(run(main))
