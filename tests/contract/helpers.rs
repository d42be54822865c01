//! Shared test plumbing: load a scenario, play it on an embedded mock, read the audit trail,
//! and build checkers the one way users get them — through the configuration path
//! (`ConfigFile::gateway`: file, environment, overrides), like zero-to-production's `spawn_app`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use paystat::clock::{Clock, ManualClock};
use paystat::contract::{EmbeddedMock, Scenario, TransportFault};
use paystat::retry::{Jitter, RetryPolicy};
use paystat::{
    AuditRecord, CheckResult, Checker, CheckerBuilder, ConfigFile, GatewayKind, Overrides,
};

use crate::fault_server::FaultServer;

/// The test credentials. They are canaries: `secrets.rs` scans every output, log, audit line
/// and snapshot for them.
pub const LEDGER_TOKEN: &str = "tok_ledger_canary_5f1d2c9e";
pub const STRIPE_KEY: &str = "sk_test_canary_51MtwBwLkdIwHu7ix";
pub const PLAID_CLIENT_ID: &str = "plaid_client_canary_63e1";
pub const PLAID_SECRET: &str = "plaid_secret_canary_9d0b";
pub const CANARIES: [&str; 4] = [LEDGER_TOKEN, STRIPE_KEY, PLAID_CLIENT_ID, PLAID_SECRET];

/// Every form a secret can be echoed in, as text to search for: itself, fully JSON-escaped,
/// percent-encoded, and the part of its base64 (standard and URL-safe) that does not depend on
/// its neighbours, at each of the three alignments. Computed here, apart from paystat's own
/// redaction, so that a scan with it does not trust the code it checks.
pub fn secret_forms(secret: &str) -> Vec<String> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    let mut forms = vec![
        secret.to_owned(),
        secret
            .chars()
            .map(|c| format!("\\u{:04x}", c as u32))
            .collect(),
        secret.bytes().map(|b| format!("%{b:02X}")).collect(),
        secret.bytes().map(|b| format!("%{b:02x}")).collect(),
    ];
    for offset in 0..3 {
        let mut bytes = vec![b'x'; offset];
        bytes.extend_from_slice(secret.as_bytes());
        for engine in [&STANDARD, &URL_SAFE] {
            let encoded = engine.encode(&bytes);
            // The first and last four characters may mix in the neighbours' bits.
            let core = &encoded[4..encoded.len() - 4];
            forms.push(core.to_owned());
        }
    }
    forms
}

/// The config file every test checker reads (the Stripe version the fixtures were written for).
pub const TEST_CONFIG: &str = "[stripe]\nstripe_version = \"2024-06-20\"\n";

/// The seed of every test's backoff jitter, so retry schedules are exact.
pub const JITTER_SEED: u64 = 20_261_127;

/// A manual clock: requests take real time, waits take none and are recorded.
pub fn manual_clock() -> Arc<ManualClock> {
    // 2026-01-01T00:00:00Z, the wall time HTTP-date `Retry-After` values are read against.
    Arc::new(ManualClock::new(
        UNIX_EPOCH + Duration::from_secs(1_767_225_600),
    ))
}

/// A simulated clock: only sleeps move time, concurrent sleeps overlap, and every computed
/// wait is exact whatever the machine's load.
pub fn simulated_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::simulated(
        UNIX_EPOCH + Duration::from_secs(1_767_225_600),
    ))
}

/// A test checker on its way to being built: one gateway at a base URL, the canary
/// credentials in its environment, auditing into `audit.jsonl` under a folder, on a manual
/// clock with seeded jitter (no test waits for a backoff).
pub struct Spawn {
    audit: PathBuf,
    kind: GatewayKind,
    config: String,
    env: Vec<(String, String)>,
    overrides: Overrides,
    clock: Arc<dyn Clock>,
    concurrency: usize,
    /// The status cache, in `state/` under the test's folder, when used.
    cache: bool,
}

/// Starts a test checker for `kind` at `base_url`, auditing under `dir`.
pub fn spawn(dir: &Path, kind: GatewayKind, base_url: &str) -> Spawn {
    let url_var = paystat::gateways::profile(kind).url_env;
    Spawn {
        audit: dir.join("audit.jsonl"),
        kind,
        config: TEST_CONFIG.to_owned(),
        env: [
            (url_var, base_url),
            ("PAYSTAT_LEDGER_TOKEN", LEDGER_TOKEN),
            ("PAYSTAT_STRIPE_KEY", STRIPE_KEY),
            ("PAYSTAT_PLAID_CLIENT_ID", PLAID_CLIENT_ID),
            ("PAYSTAT_PLAID_SECRET", PLAID_SECRET),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        overrides: Overrides::default(),
        clock: manual_clock(),
        concurrency: paystat::CheckerBuilder::DEFAULT_CONCURRENCY,
        cache: false,
    }
}

impl Spawn {
    /// Sets (or, with `None`, removes) an environment variable the configuration reads.
    pub fn env(mut self, name: &str, value: Option<&str>) -> Spawn {
        self.env.retain(|(k, _)| k != name);
        if let Some(value) = value {
            self.env.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    /// Audits into `path` instead.
    pub fn audit_path(mut self, path: &Path) -> Spawn {
        self.audit = path.to_owned();
        self
    }

    /// Adds TOML to the config file.
    pub fn config(mut self, toml: &str) -> Spawn {
        self.config.push_str(toml);
        self
    }

    /// Every part of the retry policy, as flags would set it.
    pub fn policy(mut self, policy: RetryPolicy) -> Spawn {
        self.overrides = Overrides {
            requests_per_second: self.overrides.requests_per_second,
            retry_budget: self.overrides.retry_budget,
            ..Overrides::policy(policy)
        };
        self
    }

    /// Each attempt's timeout (`--timeout`).
    pub fn timeout(mut self, timeout: Duration) -> Spawn {
        self.overrides.timeout = Some(timeout);
        self
    }

    /// The retry budget's capacity.
    pub fn budget(mut self, tokens: u32) -> Spawn {
        self.overrides.retry_budget = Some(tokens);
        self
    }

    /// Pacing in requests per second (`--rate`; 0 turns it off).
    pub fn rate(mut self, per_second: f64) -> Spawn {
        self.overrides.requests_per_second = Some(per_second);
        self
    }

    /// The clock the checker waits and times with.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Spawn {
        self.clock = clock;
        self
    }

    /// How many checks run at once.
    pub fn concurrency(mut self, concurrency: usize) -> Spawn {
        self.concurrency = concurrency;
        self
    }

    /// Uses the status cache of a state directory beside the trail (final answers reused).
    pub fn cache(mut self) -> Spawn {
        let state = self.audit.with_file_name("state");
        std::fs::create_dir_all(&state).unwrap();
        self.cache = true;
        self.env("PAYSTAT_STATE_DIR", Some(state.to_str().unwrap()))
    }

    /// The connected Stripe account to ask on behalf of (`--stripe-account`).
    pub fn stripe_account(mut self, account: Option<&str>) -> Spawn {
        self.overrides.stripe_account = account.map(str::to_owned);
        self
    }

    /// The configured gateway, as the checker will have it.
    pub fn configured(&self) -> paystat::gateways::Configured {
        let file = ConfigFile::parse(Path::new("test.toml"), &self.config)
            .unwrap_or_else(|e| panic!("{e}"));
        let env = |name: &str| {
            self.env
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        file.gateway(self.kind, &env, &self.overrides)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The checker, built by the library's one builder, as the binary builds it.
    pub fn build(self) -> Checker {
        let file = ConfigFile::parse(Path::new("test.toml"), &self.config)
            .unwrap_or_else(|e| panic!("{e}"));
        let env = self.env;
        let mut builder = CheckerBuilder::new(file);
        if self.cache {
            builder = builder.cache(Duration::ZERO, false);
        }
        builder
            .env(move |name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .overrides(self.overrides)
            .gateway(self.kind)
            .audit_log(Some(self.audit))
            .actor("contract-test".to_owned())
            .concurrency(self.concurrency)
            .clock(self.clock)
            .jitter(Arc::new(Jitter::seeded(JITTER_SEED)))
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
            .checker
    }
}

/// A checker for one gateway at `base_url` with the canary credentials, auditing under `dir`.
pub fn checker_for(dir: &Path, kind: GatewayKind, base_url: &str) -> Checker {
    spawn(dir, kind, base_url).build()
}

/// An adapter for `kind` at `base_url`, holding the canary credentials, configured the way a
/// checker's is.
pub fn gateway(kind: GatewayKind, base_url: &str) -> Arc<dyn paystat::gateways::Gateway> {
    let file = ConfigFile::parse(Path::new("test.toml"), TEST_CONFIG).unwrap();
    let spawn = spawn(Path::new("."), kind, base_url);
    let env = |name: &str| {
        spawn
            .env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    file.gateway(kind, &env, &Overrides::default())
        .unwrap_or_else(|e| panic!("{e}"))
        .gateway
}

/// The repository's fixtures folder.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Loads one scenario file given its absolute path.
pub fn load_scenario(path: &Path) -> Scenario {
    let root = fixtures_dir();
    let relative = path
        .strip_prefix(&root)
        .expect("scenario lives under fixtures/");
    let text = std::fs::read_to_string(path).expect("scenario file is readable");
    Scenario::parse(relative, &text, |p| std::fs::read(root.join(p)).ok())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// An audit line of `result` as the writer makes it — by alice on ops-1, live, `GET
/// /v1/payments/{id}` — with a fixed `timestamp`, for trails whose days and bytes a test fixes.
pub fn fixed_record<'a>(
    prev: &str,
    seq: u64,
    timestamp: &str,
    result: &'a CheckResult,
) -> AuditRecord<'a> {
    AuditRecord {
        envelope: paystat::Envelope {
            v: 2,
            seq,
            prev: prev.to_owned().into(),
            legacy_before: None,
            chain: "sha256".into(),
            timestamp: timestamp.to_owned().into(),
            event: paystat::audit_trail::EVENT_STATUS_CHECK.into(),
            actor: "alice".into(),
            os_user: "alice".into(),
            origin: std::borrow::Cow::Owned(paystat::audit_trail::Origin {
                host: "ops-1".into(),
                pid: 4242,
            }),
            caller: None,
        },
        target: None,
        environment: Some(paystat::Environment::Live),
        request: Some(std::borrow::Cow::Owned(paystat::audit_trail::RequestLine {
            method: "GET".into(),
            path: format!("/v1/payments/{}", result.payment_id),
        })),
        sync: paystat::audit_trail::Durability::Disk,
        copy_of: None,
        check: std::borrow::Cow::Borrowed(result),
        hash: String::new(),
    }
}

/// `record` sealed with plain SHA-256: the line (no newline) and its hash.
pub fn seal(record: &AuditRecord<'_>) -> (String, String) {
    let (line, hash) =
        paystat::audit_trail::Sealer::plain().seal(serde_json::to_vec(record).unwrap());
    (String::from_utf8(line).unwrap(), hash)
}

/// [`fixed_record`] sealed.
pub fn sealed_line(
    prev: &str,
    seq: u64,
    timestamp: &str,
    result: &CheckResult,
) -> (String, String) {
    seal(&fixed_record(prev, seq, timestamp, result))
}

/// An embedded mock playing the ledger's scenarios.
pub async fn ledger_mock() -> EmbeddedMock {
    let scenarios = paystat::contract::ScenarioSet::from_dir(&fixtures_dir()).unwrap();
    EmbeddedMock::start(
        scenarios
            .scenarios()
            .iter()
            .filter(|s| s.gateway == GatewayKind::Ledger),
    )
    .await
}

/// A server address where nothing listens: a port that was free a moment ago.
pub fn refused_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// A ledger base URL where nothing listens.
pub fn refused_base_url() -> String {
    format!("{}/v1", refused_server())
}

/// Every line of the audit file, parsed.
pub fn audit_lines(dir: &Path) -> Vec<AuditRecord<'static>> {
    let text = std::fs::read_to_string(dir.join("audit.jsonl")).unwrap_or_default();
    text.lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("audit line {line:?} does not parse: {e}"))
        })
        .collect()
}

/// What one scenario run produced.
pub struct Played {
    pub result: CheckResult,
    pub audit: Vec<AuditRecord<'static>>,
    /// How the request paystat builds breaks the scenario's `[request]`, as sentences.
    pub request_problems: Vec<String>,
}

/// Plays `scenario` on its own embedded mock and checks its payment id once.
pub async fn play(scenario: &Scenario) -> Played {
    play_with(scenario, |checker, id| async move {
        checker
            .check(&id)
            .await
            .expect("the audit file is writable")
    })
    .await
}

/// Plays `scenario` on its own embedded mock, with `check` asking the checker built for it
/// about the scenario's payment id (directly, or through the service).
pub async fn play_with<F, Fut>(scenario: &Scenario, check: F) -> Played
where
    F: FnOnce(Checker, String) -> Fut,
    Fut: std::future::Future<Output = CheckResult>,
{
    let dir = tempfile::tempdir().unwrap();
    let mock = EmbeddedMock::start([scenario]).await;
    // Transport faults are played by the raw-TCP fault server; httpmock cannot break HTTP.
    let fault_server = match scenario.response.transport {
        Some(TransportFault::ConnectionRefused) | None => None,
        Some(fault) => Some(FaultServer::failing(fault).await),
    };
    let server_url = match (&fault_server, scenario.response.transport) {
        (Some(server), _) => server.url(),
        (None, Some(TransportFault::ConnectionRefused)) => refused_server(),
        (None, _) => mock.server().base_url(),
    };
    let base_url = paystat::contract::base_url(&server_url, scenario.gateway);
    // Every scenario plays on paystat's own mock or fault server: the configuration says so.
    let marker = paystat::gateways::profile(scenario.gateway).environment_env;
    let mut spawned = spawn(dir.path(), scenario.gateway, &base_url)
        .env(marker, Some("mock"))
        .stripe_account(scenario.client.stripe_account.as_deref());
    if let Some(timeout) = scenario.client.timeout {
        spawned = spawned.timeout(timeout);
    }
    // What paystat sends, held to the scenario's [request] (the mock enforces it too).
    let request_problems = match &scenario.request {
        Some(spec) => {
            let request = spawned
                .configured()
                .gateway
                .request(&reqwest::Client::new(), &scenario.payment_id)
                .expect("the scenario's id makes a request");
            spec.mismatches(&request)
        }
        None => Vec::new(),
    };
    let checker = spawned.build();
    let result = check(checker, scenario.payment_id.clone()).await;
    Played {
        result,
        audit: audit_lines(dir.path()),
        request_problems,
    }
}

/// `paystat` with a clean environment: no credentials or log settings leak in from the shell.
pub fn paystat(cwd: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_paystat"));
    cmd.current_dir(cwd);
    for (name, _) in std::env::vars() {
        let proxy = name.to_ascii_lowercase().ends_with("_proxy");
        if name.starts_with("PAYSTAT_") || name == "RUST_LOG" || proxy {
            cmd.env_remove(name);
        }
    }
    // The state directory (the live audit trail, the demo's trail) and the user's config
    // file inside the test's folder.
    cmd.env("XDG_STATE_HOME", cwd.join("state"));
    cmd.env("XDG_CONFIG_HOME", cwd.join("config"));
    cmd
}

/// Writes the config file `paystat(dir)` reads by default (`$XDG_CONFIG_HOME/paystat/config.toml`).
pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("config/paystat/config.toml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

/// The lines of every day file of the live trail `paystat(dir)` writes, oldest first.
pub fn live_trail(dir: &Path) -> String {
    trail_text(&dir.join("state/paystat/audit"))
}

/// The lines of the demo's trail under `paystat(dir)`'s state directory.
pub fn demo_trail(dir: &Path) -> String {
    trail_text(&dir.join("state/paystat/demo"))
}

/// Every `.jsonl` day file of the trail directory `dir`, concatenated in day order.
pub fn trail_text(dir: &Path) -> String {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

/// Every file under `dir`.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            files.push(path);
        }
    }
    files
}

/// A well-formed id of each gateway.
pub fn sample_id(kind: GatewayKind) -> &'static str {
    match kind {
        GatewayKind::Ledger => "txn_001",
        GatewayKind::Stripe => "pi_3MtwBwLkdIwHu7ix28a3tqPa",
        GatewayKind::Plaid => "460cbe92-2dcc-8eae-5ad6-b37d0ec90fd9",
    }
}

/// A real, tiny filesystem (a 64 KiB tmpfs) filled to the last byte, for full-disk tests;
/// unmounted when dropped.
pub struct FullDisk {
    dir: tempfile::TempDir,
}

impl FullDisk {
    /// Mounts and fills it, or says why this machine cannot (not root, no tmpfs, a sandbox
    /// without mount rights): the caller then skips with that sentence.
    pub fn mount() -> Result<FullDisk, String> {
        FullDisk::mount_with(None)
    }

    /// Like [`FullDisk::mount`], with a file written before the disk is filled: appending to it
    /// fills the rest of its last block, then fails — a write torn half way.
    pub fn mount_with(file: Option<(&str, &[u8])>) -> Result<FullDisk, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !status.success() {
            return Err("cannot mount a small tmpfs on this machine".into());
        }
        let disk = FullDisk { dir };
        if let Some((name, content)) = file {
            std::fs::write(disk.path(name), content).map_err(|e| e.to_string())?;
        }
        let filler = disk.dir.path().join("filler");
        let mut file = std::fs::File::create(&filler).map_err(|e| e.to_string())?;
        let block = [0u8; 4096];
        while std::io::Write::write_all(&mut file, &block).is_ok() {}
        Ok(disk)
    }

    /// A path on the full filesystem.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for FullDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}
