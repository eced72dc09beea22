from bench.terminal.run import BENCHMARK

raise SystemExit(BENCHMARK.main())
