"""`python -m train --config ... --workdir ...`: the same as `jrestore train`."""
import sys

from jrestore.cli import main

if __name__ == "__main__":
    sys.exit(main(["train"] + sys.argv[1:]))
