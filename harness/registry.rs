//! Handlers by name: the built-in reference handlers, plus any a user
//! registers before running scenarios from code.

use std::sync::Arc;

use faultline_models::Handler;
use faultline_models::handler::HandlerFactory;
use faultline_models::handlers::built_ins;
use faultline_models::kafka::CommitMode;

/// A handler a scenario can name.
#[derive(Clone)]
pub struct Registered {
    /// The name.
    pub name: String,
    /// Builds it (at start and after each crash).
    pub factory: HandlerFactory,
    /// The commit mode used unless the scenario sets one.
    pub commit: CommitMode,
    /// One line on what it does.
    pub summary: String,
}

/// Handlers by name.
#[derive(Clone)]
pub struct Registry {
    entries: Vec<Registered>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::with_built_ins()
    }
}

impl Registry {
    /// The built-in handlers.
    pub fn with_built_ins() -> Registry {
        Registry {
            entries: built_ins()
                .into_iter()
                .map(|b| Registered {
                    name: b.name.to_owned(),
                    factory: b.factory,
                    commit: b.commit,
                    summary: b.summary.to_owned(),
                })
                .collect(),
        }
    }

    /// Registers `factory` as `name` (replacing a handler of that name).
    /// Scenarios then select it with `handler = "<name>"`.
    pub fn register<H, F>(&mut self, name: &str, commit: CommitMode, factory: F) -> &mut Self
    where
        H: Handler + 'static,
        F: Fn() -> H + Send + Sync + 'static,
    {
        self.entries.retain(|e| e.name != name);
        self.entries.push(Registered {
            name: name.to_owned(),
            factory: Arc::new(move || Box::new(factory()) as Box<dyn Handler>),
            commit,
            summary: "registered by the user".to_owned(),
        });
        self
    }

    /// The handler called `name`.
    pub fn get(&self, name: &str) -> Option<&Registered> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// Every name, in registration order.
    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.name.as_str()).collect()
    }
}

/// The candidate closest to `word` by edit distance, if close enough to be
/// a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(1) && *d < word.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_names_only() {
        let names = ["idempotent-inbox", "process-then-commit"];
        assert_eq!(
            did_you_mean("idempotent-inbx", names),
            Some("idempotent-inbox")
        );
        assert_eq!(did_you_mean("zzz", names), None);
        assert_eq!(did_you_mean("zz", ["p1", "b1", "c1"]), None);
        assert_eq!(did_you_mean("c5", ["p1", "b1", "c1"]), Some("c1"));
    }
}
