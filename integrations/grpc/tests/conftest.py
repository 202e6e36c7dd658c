from __future__ import annotations

import sys
from pathlib import Path

# The demo service lives beside the tests; make it importable however pytest is run.
sys.path.insert(0, str(Path(__file__).parent))
