import sys
from pathlib import Path

# the queue area's shared helpers (tests/queue/qhelp.py)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "queue"))
