from bodycam.cli import main

raise SystemExit(main())
