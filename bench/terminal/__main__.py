from bench.terminal.run import main

raise SystemExit(main())
