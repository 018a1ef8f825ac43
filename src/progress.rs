//! Live progress while a scenario runs: an indicatif bar on a terminal, plain lines otherwise
//! (CI logs), at most one line every few seconds.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use crate::output::tell;
use indicatif::{ProgressBar, ProgressStyle};
use leakcheck_runner::Event;
use leakcheck_vocab::fmt;

/// How often plain-text progress lines are printed.
const PLAIN_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct Progress {
    name: String,
    total: Option<u64>,
    bar: Option<ProgressBar>,
    last_plain: Option<Instant>,
    iteration: Option<u64>,
    /// The program's own RSS from its marks.
    rss: Option<u64>,
    allocated: Option<u64>,
    /// The process tree's RSS, latest and highest, from the outside samples.
    tree: Option<u64>,
    peak_tree: u64,
}

impl Progress {
    pub fn new(name: &str, total: Option<u64>) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = match total {
                Some(n) => ProgressBar::new(n),
                None => ProgressBar::new_spinner(),
            };
            let template = if total.is_some() {
                "{prefix:.bold} [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} {msg}"
            } else {
                "{prefix:.bold} [{elapsed_precise}] {spinner} {msg}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar.set_prefix(name.to_string());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            name: name.to_string(),
            total,
            bar,
            // The first plain line waits one interval: the first samples are of the
            // process before it exec'd its program (a few KiB), which mean nothing.
            last_plain: Some(Instant::now()),
            iteration: None,
            rss: None,
            allocated: None,
            tree: None,
            peak_tree: 0,
        }
    }

    /// A line that stays (a watch's look): above the bar on a terminal, else on stderr.
    pub fn note(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(format!("[{}] {line}", self.name)),
            None => tell!("[{}] {line}", self.name),
        }
    }

    /// Feed one runner event.
    pub fn on_event(&mut self, event: &Event) {
        match event {
            Event::Mark {
                iteration,
                rss,
                allocated,
            } => {
                self.iteration = Some(*iteration);
                self.rss = rss.or(self.rss);
                self.allocated = allocated.or(self.allocated);
            }
            Event::Sample { rss_tree, .. } => {
                self.tree = Some(*rss_tree);
                self.peak_tree = self.peak_tree.max(*rss_tree);
            }
            Event::Started { .. } if self.bar.is_none() => self.println("started"),
            Event::Warning(text) => self.println(&format!("warning: {text}")),
            Event::Note(text) => self.println(&format!("note: {text}")),
            _ => {}
        }
        self.refresh();
    }

    fn status_text(&self) -> String {
        let mut parts = Vec::new();
        if let Some(tree) = self.tree {
            parts.push(format!(
                "rss.tree {} (peak {})",
                fmt::bytes(tree as f64),
                fmt::bytes(self.peak_tree as f64)
            ));
        }
        if let Some(rss) = self.rss {
            parts.push(format!("rss {}", fmt::bytes(rss as f64)));
        }
        if let Some(allocated) = self.allocated {
            parts.push(format!("allocated {}", fmt::bytes(allocated as f64)));
        }
        parts.join("  ")
    }

    fn refresh(&mut self) {
        let text = self.status_text();
        if let Some(bar) = &self.bar {
            if let Some(i) = self.iteration {
                bar.set_position(i + 1);
            }
            bar.set_message(text);
            return;
        }
        let due = self
            .last_plain
            .is_none_or(|t| t.elapsed() >= PLAIN_INTERVAL);
        if due && !text.is_empty() {
            self.last_plain = Some(Instant::now());
            let iteration = match (self.iteration, self.total) {
                (Some(i), Some(n)) => format!("iteration {}/{n}  ", i + 1),
                (Some(i), None) => format!("iteration {}  ", i + 1),
                _ => String::new(),
            };
            tell!("[{}] {iteration}{text}", self.name);
        }
    }

    fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(format!("[{}] {line}", self.name)),
            None => tell!("[{}] {line}", self.name),
        }
    }

    /// Clear the bar; the caller prints the verdict.
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
