from bench.grading.run import main

raise SystemExit(main())
