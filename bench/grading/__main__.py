from bench.grading.run import BENCHMARK

raise SystemExit(BENCHMARK.main())
