import sys

from jrestore.cli import main

sys.exit(main())
