from bench.fill.run import BENCHMARK

raise SystemExit(BENCHMARK.main())
