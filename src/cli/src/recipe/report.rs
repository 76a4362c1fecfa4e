//! Step outcomes, counts and the printed report.
//!
//! Output (stdout), one line per step as it finishes, then a count per recipe and a final summary line:
//! ```text
//! recipe tests/recipes/hostname.json (12 steps)
//!   [ 1] PASS LoadModule hostname.so: HostName 1.0.0 (/usr/lib/osconfig/hostname.so)
//!   [ 2] FAIL Reported HostName.name (line 9): expected result 0, got 22 (EINVAL)
//!   [ 3] SKIP Reported HostName.hosts (line 14): module hostname.so did not load
//! tests/recipes/hostname.json: 1 passed, 1 failed, 1 skipped, 3 total
//! 1 passed, 1 failed, 1 skipped, 3 total
//! ```
//! The last line is always the summary in exactly that form.

use std::fmt;
use std::io::Write;

use crate::recipe::step::Step;

/// The result of one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The step did what the recipe expects; the text is a short detail (may be empty).
    Passed(String),
    /// The step did not; the text says why.
    Failed(String),
    /// The step was not run (its module did not load, or an earlier `AbortOnFailure` step failed); the text says why.
    Skipped(String),
}

impl Outcome {
    /// `PASS`, `FAIL` or `SKIP`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Passed(_) => "PASS",
            Outcome::Failed(_) => "FAIL",
            Outcome::Skipped(_) => "SKIP",
        }
    }

    /// The detail or reason text.
    pub fn text(&self) -> &str {
        match self {
            Outcome::Passed(t) | Outcome::Failed(t) | Outcome::Skipped(t) => t,
        }
    }

    /// Whether the step failed.
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failed(_))
    }
}

/// Step counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Steps that passed.
    pub passed: usize,
    /// Steps that failed (including recipes that could not be parsed, one each).
    pub failed: usize,
    /// Steps that were skipped.
    pub skipped: usize,
}

impl Tally {
    /// Count one outcome.
    pub fn add(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Passed(_) => self.passed += 1,
            Outcome::Failed(_) => self.failed += 1,
            Outcome::Skipped(_) => self.skipped += 1,
        }
    }

    /// Add another tally.
    pub fn merge(&mut self, other: Tally) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }

    /// All steps counted.
    pub fn total(&self) -> usize {
        self.passed + self.failed + self.skipped
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} passed, {} failed, {} skipped, {} total", self.passed, self.failed, self.skipped, self.total())
    }
}

/// Prints the report as the run goes. Write errors (a closed pipe) are ignored: the exit code still tells.
#[derive(Debug)]
pub struct Reporter<W: Write> {
    out: W,
    verbose: bool,
}

impl<W: Write> Reporter<W> {
    /// A reporter writing to `out`; `verbose` adds notes (payloads, command output, waits).
    pub fn new(out: W, verbose: bool) -> Reporter<W> {
        Reporter { out, verbose }
    }

    /// Whether verbose notes are printed.
    pub fn verbose(&self) -> bool {
        self.verbose
    }

    /// The line that opens a recipe.
    pub fn recipe_start(&mut self, name: &str, steps: usize) {
        self.line(&format!("recipe {name} ({steps} steps)"));
    }

    /// One finished step.
    pub fn step(&mut self, step: &Step, outcome: &Outcome) {
        let line = if step.line > 0 { format!(" (line {})", step.line) } else { String::new() };
        let text = outcome.text();
        let sep = if text.is_empty() { "" } else { ": " };
        self.line(&format!("  [{:>2}] {} {}{line}{sep}{text}", step.number, outcome.label(), step.describe()));
    }

    /// The implicit unload at the end of a recipe, printed only when it failed.
    pub fn end_of_recipe(&mut self, outcome: &Outcome) {
        self.line(&format!("  [end] {} UnloadModule (end of recipe): {}", outcome.label(), outcome.text()));
    }

    /// A recipe that failed as a whole (it could not be read or parsed).
    pub fn recipe_error(&mut self, error: &str) {
        self.line(&format!("  FAIL {error}"));
    }

    /// A note that is always printed (warnings).
    pub fn note(&mut self, text: &str) {
        self.line(&format!("       {text}"));
    }

    /// A note printed only with `--verbose`.
    pub fn detail(&mut self, text: &str) {
        if self.verbose {
            for l in text.lines() {
                self.line(&format!("       | {l}"));
            }
        }
    }

    /// The count line of one recipe.
    pub fn recipe_end(&mut self, name: &str, tally: Tally) {
        self.line(&format!("{name}: {tally}"));
    }

    /// The final summary line.
    pub fn summary(&mut self, tally: Tally) {
        self.line(&tally.to_string());
    }

    fn line(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}");
        let _ = self.out.flush();
    }

    /// The writer back (tests read what was printed).
    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipe::step::StepKind;

    #[test]
    fn test_tally_display_and_merge() {
        let mut t = Tally::default();
        t.add(&Outcome::Passed(String::new()));
        t.add(&Outcome::Failed("x".into()));
        t.add(&Outcome::Skipped("y".into()));
        t.add(&Outcome::Passed(String::new()));
        assert_eq!(t.to_string(), "2 passed, 1 failed, 1 skipped, 4 total");
        let mut all = Tally::default();
        all.merge(t);
        all.merge(t);
        assert_eq!(all.total(), 8);
    }

    #[test]
    fn test_reporter_step_lines() {
        let mut r = Reporter::new(Vec::new(), false);
        let step = Step { number: 2, line: 9, wait: None, abort_on_failure: false, kind: StepKind::UnloadModule };
        r.step(&step, &Outcome::Failed("no module is loaded".into()));
        r.detail("hidden");
        r.summary(Tally { passed: 0, failed: 1, skipped: 0 });
        let text = String::from_utf8(r.into_inner()).unwrap();
        assert_eq!(
            text,
            "  [ 2] FAIL UnloadModule (line 9): no module is loaded\n0 passed, 1 failed, 0 skipped, 1 total\n"
        );
    }

    #[test]
    fn test_reporter_verbose_details() {
        let mut r = Reporter::new(Vec::new(), true);
        r.detail("a\nb");
        assert_eq!(String::from_utf8(r.into_inner()).unwrap(), "       | a\n       | b\n");
    }
}
