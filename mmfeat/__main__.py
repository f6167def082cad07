import sys

from mmfeat.cli import main

sys.exit(main())
