import sys

from medallion.cli.main import main

sys.exit(main())
