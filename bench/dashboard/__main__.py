from bench.dashboard.run import BENCHMARK

raise SystemExit(BENCHMARK.main())
