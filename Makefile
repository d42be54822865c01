# Shortcuts for the commands in the README.
.PHONY: demo test review lint fixtures report ci mutants

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

# Mutation testing over the core, in five runs (not part of CI: well over an hour on 2 cores;
# the README says what each covers). Every surviving mutant is killed by a test or explained
# in tests/MUTANTS.md.
mutants:
	cargo mutants -f 'src/gateway/**/*.rs' -f src/result/money.rs -f src/result/status.rs \
		-f src/payment_id.rs -f 'src/retry/*.rs' --jobs 2 --timeout 120
	cargo mutants -f src/audit/chain.rs -f 'src/audit/verify/*.rs' -f src/audit/prune.rs \
		-f src/audit/copies.rs -f src/audit/durable.rs -f src/audit/head.rs \
		--jobs 2 --timeout 120 -o mutants-audit -- --lib --test contract -- audit
	cargo mutants -f 'src/cache/*.rs' -f src/feed.rs -f src/check/reuse.rs \
		--jobs 2 --timeout 120 -o mutants-cache -- --lib --test contract -- cache feed
	cargo mutants -f src/audit/append.rs -f src/audit/error.rs -f src/audit/sync.rs \
		--re 'AuditTrail::check_line|AuditTrail::envelope|AuditTrail::write|AuditTrail::appended|AuditTrail::written|AuditTrail::append|AuditError::again|Drop for AuditTrail|Syncer::written' \
		--jobs 2 --timeout 120 -o mutants-append -- --lib --test contract -- audit
	cargo mutants -f 'src/check/*.rs' \
		--jobs 2 --timeout 120 -o mutants-check -- --lib --test contract
	cargo mutants -f src/serve/tokens.rs -f src/serve/access.rs -f src/serve/api.rs -f src/serve/trail.rs \
		--jobs 2 --timeout 120 -o mutants-serve -- --lib --test contract -- serve tokens
	cargo mutants -f src/explain/rules/mod.rs -f src/explain/calendar.rs -f src/check/explain.rs \
		-f src/audit/index/mod.rs --jobs 2 --timeout 120 -o mutants-explain \
		-- --lib --test contract -- explain rules calendar index history
	cargo mutants -f src/fill.rs -f src/reconcile.rs -f 'src/gateway/*/list.rs' -f src/gateway/list.rs \
		-f src/cache/fill.rs -f src/check/list.rs --jobs 2 --timeout 120 -o mutants-reconcile \
		-- --lib --test contract -- reconcile list fill
