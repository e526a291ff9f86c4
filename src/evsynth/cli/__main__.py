import sys

from evsynth.cli import main

sys.exit(main())
