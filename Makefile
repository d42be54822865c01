# Shortcuts for the commands in the README.
.PHONY: demo test review lint ci

demo:
	cargo run --locked -- demo

test:
	cargo test --locked

review:
	cargo insta review

lint:
	cargo fmt --all -- --check
	cargo clippy --locked --all-targets -- -D warnings

ci:
	CI=true bash .ci/run
