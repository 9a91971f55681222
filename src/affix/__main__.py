import sys

from affix.cli.main import main

sys.exit(main())
