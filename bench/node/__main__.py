from bench.node.run import BENCHMARK

raise SystemExit(BENCHMARK.main())
