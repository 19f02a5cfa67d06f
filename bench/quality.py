"""JPEG frame sizes against quality on the virtual OV2640 (host/bodycam/
sim/scene.py): the size factor per sensor quantization scale (QS) that
firmware/settings.py's QS_SIZE table holds, and for every frame size the
typical and busy-scene frame at each of our quality settings against the
driver's width*height/5 buffer. Prints one JSON object:

    {"qs_size": {"0": 7.5, ...}, "table_off": {"0": 0.01, ...},
     "framesizes": {"VGA": {"fb_bytes", "max_quality", "by_quality": {"85": {"qs", "mean_bytes", "peak_bytes", "fits"}}}}}

    python bench/quality.py [--framesizes QQVGA,QCIF,HQVGA,QVGA,CIF,VGA,SVGA]
"""
import argparse
import json

from bodycam.resources import shared
from bodycam.sim.scene import Scene, pil_quality_for_qs, size_factors


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--framesizes", default="QQVGA,QCIF,HQVGA,QVGA,CIF,VGA,SVGA")
    a = ap.parse_args()
    s = shared("settings")
    names = a.framesizes.split(",")
    qs_values = [qs for qs, _ in s.QS_SIZE]
    measured = size_factors(names, qs_values)
    out = {"qs_size": {str(k): round(v, 2) for k, v in measured.items()},
           "table_off": {str(qs): round(measured[qs] / f - 1, 3) for qs, f in s.QS_SIZE},
           "framesizes": {}}
    for fs in names:
        sc = Scene(fs, 85)
        rows = {}
        for q in range(10, 101, 5):
            qs = s.driver_qs(q)
            mean = sc._mean(pil_quality_for_qs(sc.pil_quality, qs))
            rows[str(q)] = {"qs": qs, "mean_bytes": int(mean), "peak_bytes": s.peak_frame_bytes(fs, q),
                            "fits": s.quality_fits(fs, q)}
        best = max([q for q in range(10, 101) if s.quality_fits(fs, q)] or [None])
        out["framesizes"][fs] = {"fb_bytes": s.fb_bytes(fs), "max_quality": best, "by_quality": rows}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
