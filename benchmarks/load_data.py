"""How long reading and windowing all of DSADS and UCI HAPT takes (issue bar: under 60 s)."""

from __future__ import annotations

import json
import sys
import time

from recordings.protocols import get_protocol, load_recordings, load_split


def run_load_benchmark() -> list[dict]:
    """One record per dataset: seconds to read every recording and cut every protocol's windows."""
    records = []
    for dataset, protocol in (("dsads", "dsads-xsub"), ("hapt", "hapt-xsub-transitions")):
        started = time.perf_counter()
        recordings = load_recordings(get_protocol(protocol))
        read_s = time.perf_counter() - started
        split = load_split(protocol, recordings=recordings)
        total_s = time.perf_counter() - started
        records.append(
            {
                "protocol": "data-load",
                "system": dataset,
                "recordings": len(recordings),
                "windows": len(split.reference) + len(split.test),
                "read_s": round(read_s, 2),
                "read_and_window_s": round(total_s, 2),
            }
        )
    return records


if __name__ == "__main__":
    results = run_load_benchmark()
    print(json.dumps(results, indent=2))
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as handle:
            json.dump(results, handle, indent=2)
