//! The progress line on stderr while a `check` run goes.

use std::io::IsTerminal;

use paystat::{CheckResult, Checker};

/// The progress line on stderr, when stderr is a terminal and `--quiet` is not given.
pub(super) struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    pub(super) fn new(quiet: bool, known: Option<usize>, checker: &Checker) -> Progress {
        if quiet || !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = match known {
            Some(n) => indicatif::ProgressBar::new(n as u64),
            None => indicatif::ProgressBar::no_length(),
        };
        let template = match known {
            Some(_) => "{pos}/{len} checked  {per_sec}  eta {eta}  {msg}",
            None => "{pos} checked  {per_sec}  {msg}",
        };
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(4));
        // Why a run may be slow, before it is: the gateways paystat paces.
        let paced: Vec<String> = checker
            .pacing()
            .into_iter()
            .map(|(kind, rate)| format!("{kind}: paced at {rate}/s"))
            .collect();
        bar.set_message(paced.join(", "));
        Progress { bar: Some(bar) }
    }

    pub(super) fn tick(&self, result: &CheckResult) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
            if result.attempts > 1 {
                bar.set_message(format!(
                    "{}: retrying ({} attempts for {})",
                    result.gateway.map_or("?", |g| g.as_str()),
                    result.attempts,
                    paystat::payment_id::display_safe(&result.payment_id)
                ));
            }
        }
    }

    pub(super) fn tick_withheld(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    pub(super) fn suspend(&self, say: impl FnOnce()) {
        match &self.bar {
            Some(bar) => bar.suspend(say),
            None => say(),
        }
    }

    pub(super) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
