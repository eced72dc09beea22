from bench.web.run import BENCHMARK

raise SystemExit(BENCHMARK.main())
