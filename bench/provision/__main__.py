from bench.provision.run import BENCHMARK

raise SystemExit(BENCHMARK.main())
