"""Baselines timed in-process (interpreter start-up excluded) for bench/dicom-*.ts. Prints one JSON line.

  python dicom_baselines.py dicognito <in_dir> <out_dir> <runs>
  python dicom_baselines.py deid <in_dir> <out_dir> <runs>
  python dicom_baselines.py median <raw_uint16_file> <width> <height> <runs> [<expected_raw_file>]
"""
import json
import os
import statistics
import sys
import time


def files_in(d):
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".dcm"))


def bench_dicognito(in_dir, out_dir, runs):
    import pydicom
    from dicognito.anonymizer import Anonymizer

    files = files_in(in_dir)
    times = []
    for _ in range(runs):
        anonymizer = Anonymizer()
        t = time.perf_counter()
        for i, f in enumerate(files):
            ds = pydicom.dcmread(f)
            anonymizer.anonymize(ds)
            ds.save_as(os.path.join(out_dir, f"{i}.dcm"))
        times.append(time.perf_counter() - t)
    return {"tool": "dicognito", "files": len(files), "seconds": times}


def bench_deid(in_dir, out_dir, runs):
    from deid.dicom import get_identifiers, replace_identifiers

    files = files_in(in_dir)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        items = get_identifiers(files)
        replace_identifiers(dicom_files=files, ids=items, save=True, output_folder=out_dir, overwrite=True)
        times.append(time.perf_counter() - t)
    return {"tool": "pydicom-deid", "files": len(files), "seconds": times}


def bench_median(raw, width, height, runs, expected=None):
    import cv2
    import numpy as np

    img = np.fromfile(raw, dtype="<u2").reshape(height, width)
    times = []
    out = None
    for _ in range(runs):
        t = time.perf_counter()
        out = cv2.medianBlur(img, 3)
        times.append(time.perf_counter() - t)
    cv2.setNumThreads(1)
    single = []
    for _ in range(runs):
        t = time.perf_counter()
        cv2.medianBlur(img, 3)
        single.append(time.perf_counter() - t)
    result = {"tool": "opencv.medianBlur", "seconds": times, "single_thread_median_seconds": statistics.median(single), "threads_default": cv2.getNumberOfCPUs()}
    if expected:
        ours = np.fromfile(expected, dtype="<u2").reshape(height, width)
        result["identical"] = bool((ours == out).all())
    return result


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "dicognito":
        r = bench_dicognito(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif mode == "deid":
        r = bench_deid(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif mode == "median":
        r = bench_median(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6] if len(sys.argv) > 6 else None)
    else:
        raise SystemExit(f"unknown mode {mode}")
    r["median_seconds"] = statistics.median(r["seconds"])
    print(json.dumps(r))
