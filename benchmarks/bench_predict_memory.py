"""Peak memory of prediction against the number of images: it must stay flat (images stream through; rows go to the
journal on disk; the submission is written from there).

    python benchmarks/bench_predict_memory.py --counts 8,32,128

Each count runs in a fresh process (the real network: resnet_tiny at 64x64 with random weights, every detection
kept, masks at 512x512) on demo scenes of 300-1200 px, and reports that process's peak resident memory (VmHWM). The
reference, side by side in the same kind of process: the same predictions collected in memory and written with
pandas at the end, the usual notebook way.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def child(count: int, folder: Path, mode: str) -> None:
    import pandas as pd

    from fashion_seg.checkpoints import inference_config
    from fashion_seg.prediction.inference import Predictor
    from fashion_seg.mrcnn.model import MaskRCNN
    from fashion_seg.prediction.postprocess import postprocess
    from fashion_seg.prediction.settings import PostProcessing
    from fashion_seg.prediction.predict_images import predict_submission
    from fashion_seg.prediction.submission import expected_image_ids

    config = inference_config({"NAME": "memory", "NUM_CLASSES": 47, "BACKBONE": "resnet_tiny", "IMAGE_MIN_DIM": 64,
                               "IMAGE_MAX_DIM": 64, "PRE_NMS_LIMIT": 2000, "POST_NMS_ROIS_INFERENCE": 200}, {}, 1)
    config.DETECTION_MIN_CONFIDENCE = 0.0
    model = MaskRCNN("inference", config, tempfile.mkdtemp())
    paths = [folder / name for name in expected_image_ids(folder)][:count]
    keep = PostProcessing(min_score=0.0, nms_iou=1.0, max_detections=1000, mask_threshold=0.5, min_area=0)
    out = Path(tempfile.mkdtemp()) / "submission.csv"
    start = time.perf_counter()
    if mode == "streaming":
        predict_submission(Predictor([model]), paths, out, keep, progress=False)
    else:
        predictor, rows = Predictor([model]), []
        for batch in predictor.batches(paths):
            for image, detections in zip(batch.images, predictor.detect(batch)):
                rows.extend(row[:3] for row in postprocess(detections, keep).rows(image.image_id))
        pd.DataFrame(rows, columns=["ImageId", "EncodedPixels", "ClassId"]).to_csv(out, index=False)
    print(f"{peak_rss_mib():.1f} {time.perf_counter() - start:.1f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", default="8,32,128")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(int(args.child[0]), Path(args.child[1]), args.child[2])
        return 0
    from fashion_seg.data.synthetic import make_demo_dataset

    counts = [int(c) for c in args.counts.split(",")]
    demo = make_demo_dataset(Path(tempfile.mkdtemp()) / "demo", train_images=1, test_images=max(counts),
                             min_side=300, max_side=1200, large_side=None)
    print(f"{'images':>7} {'streaming peak MiB':>19} {'in-memory peak MiB':>19} {'seconds':>8}")
    for count in counts:
        figures = {}
        for mode in ("streaming", "in-memory"):
            result = subprocess.run([sys.executable, __file__, "--child", str(count), str(demo.root / "test"), mode],
                                    capture_output=True, text=True, check=True)
            figures[mode] = [float(v) for v in result.stdout.split()[-2:]]
        print(f"{count:>7} {figures['streaming'][0]:>19.1f} {figures['in-memory'][0]:>19.1f} "
              f"{figures['streaming'][1]:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
