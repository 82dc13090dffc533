"""Runs the test suite once per Keras backend and prints a summary.

    python -m tests.all_backends [pytest arguments...]

Each backend runs in its own pytest process (the backend is fixed when Keras
is imported). Exit status is non-zero if any run fails or collects no test
(pytest's exit code 5 is a failure here, not a pass).
"""

import os
import re
import subprocess
import sys
import time

BACKENDS = ("tensorflow", "jax", "torch")
COUNT = re.compile(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed)")


def run(backend, extra_args):
    env = {**os.environ, "KERAS_BACKEND": backend}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    start = time.monotonic()
    process = subprocess.Popen(
        command + list(extra_args),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    last_lines = []
    for line in process.stdout:
        print(f"[{backend}] {line}", end="", flush=True)
        last_lines = (last_lines + [line])[-5:]
    code = process.wait()
    seconds = time.monotonic() - start
    counts = {}
    for line in last_lines:
        for number, word in COUNT.findall(line):
            counts[word.rstrip("s") if word.startswith("error") else word] = int(number)
    return code, seconds, counts


def main(argv):
    results = {}
    for backend in os.environ.get("PREDRNN_BACKENDS", ",".join(BACKENDS)).split(","):
        print(f"=== KERAS_BACKEND={backend}", flush=True)
        results[backend] = run(backend, argv)
    print("\nbackend     exit  passed  failed  skipped  errors   seconds")
    total_passed = total_failed = 0
    ok = True
    for backend, (code, seconds, counts) in results.items():
        passed = counts.get("passed", 0)
        failed = counts.get("failed", 0) + counts.get("error", 0)
        total_passed += passed
        total_failed += failed
        if code != 0 or passed == 0:
            ok = False
        print(
            f"{backend:<11} {code:>4}  {passed:>6}  {counts.get('failed', 0):>6}"
            f"  {counts.get('skipped', 0):>7}  {counts.get('error', 0):>6}"
            f"  {seconds:>8.1f}"
        )
    if not ok:
        print("FAILED: a backend failed or ran no test (pytest exit 5)")
    print(f"{total_passed} passed, {total_failed} failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
