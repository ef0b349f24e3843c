from sonogram.cli import main

raise SystemExit(main())
