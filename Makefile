.PHONY: demo test bench lint
demo:
	bash scripts/demo.sh
test:
	bash scripts/test.sh
bench:
	bash scripts/bench.sh
lint:
	.venv/bin/ruff check django_tasks testproject tests bench && .venv/bin/ruff format --check django_tasks testproject tests bench
