"""Prints 'N passed, N failed' from a meson testlog.json; exits 1 on failures."""
import json
import sys

passed = failed = 0
for path in sys.argv[1:]:
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            result = json.loads(line)["result"]
            if result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result != "SKIP":
                failed += 1
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
