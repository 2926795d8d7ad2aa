"""Executors decide where chains run. In-process is the default (`render.Run.run_chains`); `ray` runs
each chain as a task on a Ray cluster's workers, which keep their model loaded between chains."""
