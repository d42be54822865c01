# Shortcuts for the commands in the README.
.PHONY: demo test review lint fixtures report ci

demo:
	cargo run --locked -- demo

test:
	cargo test --locked

review:
	cargo insta review

lint:
	cargo fmt --all -- --check
	cargo clippy --locked --all-targets -- -D warnings

fixtures:
	cargo run --locked -q -- fixtures check

report:
	cargo run --locked -q -- fixtures report

ci:
	CI=true bash .ci/run
